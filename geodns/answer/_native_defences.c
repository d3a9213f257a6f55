/* Access lists for the native data plane, and the reply a denied source gets.
 *
 * The verdict is acl.py's: a source inside dns_deny is denied whatever dns_allow says;
 * with dns_allow empty everyone else may ask, otherwise only sources inside it. Each list
 * is a sorted array of disjoint address ranges per family (Python collapses the CIDR
 * networks into them), so a lookup is a binary search and allocates nothing.
 */
#include "_native_defences.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define RANGE_BYTES 33   /* family, first address, last address */
#define MAX_RANGES (1u << 20)
#define FLAG_QR 0x80
#define RCODE_REFUSED 5
#define TYPE_OPT 41
#define OUR_UDP_PAYLOAD 1232 /* dns/edns.py OUR_UDP_PAYLOAD */
#define OPTION_ECS 8
#define OPTION_EDE 15
#define EDE_PROHIBITED 18

int source_of(const struct sockaddr *sa, Source *out) {
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        out->family = 4;
        out->address = ntohl(in->sin_addr.s_addr);
        return 0;
    }
    if (sa->sa_family == AF_INET6) {
        const unsigned char *b = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        u128 a = 0;
        if (memcmp(b, mapped, 12) == 0) {
            out->family = 4;
            for (int i = 12; i < 16; i++)
                a = (a << 8) | b[i];
        } else {
            out->family = 6;
            for (int i = 0; i < 16; i++)
                a = (a << 8) | b[i];
        }
        out->address = a;
        return 0;
    }
    return -1;
}

/* --- network sets ------------------------------------------------------------------- */

static u128 read_u128(const unsigned char *p) {
    u128 v = 0;
    for (int i = 0; i < 16; i++)
        v = (v << 8) | p[i];
    return v;
}

void netset_clear(NetSet *set) {
    for (int f = 0; f < 2; f++) {
        PyMem_Free(set->ranges[f]);
        set->ranges[f] = NULL;
        set->n[f] = 0;
    }
}

int netset_from_bytes(PyObject *packed, const char *what, NetSet *out) {
    memset(out, 0, sizeof *out);
    if (!PyBytes_Check(packed)) {
        PyErr_Format(PyExc_TypeError, "%s must be bytes", what);
        return -1;
    }
    const unsigned char *p = (const unsigned char *)PyBytes_AS_STRING(packed);
    size_t len = (size_t)PyBytes_GET_SIZE(packed);
    if (len % RANGE_BYTES != 0 || len / RANGE_BYTES > MAX_RANGES) {
        PyErr_Format(PyExc_ValueError, "%s: %d bytes a range, at most %u ranges", what,
                     RANGE_BYTES, MAX_RANGES);
        return -1;
    }
    size_t count[2] = {0, 0};
    for (size_t off = 0; off < len; off += RANGE_BYTES) {
        if (p[off] != 4 && p[off] != 6) {
            PyErr_Format(PyExc_ValueError, "%s: family %d is neither 4 nor 6", what, p[off]);
            return -1;
        }
        count[p[off] == 6]++;
    }
    for (int f = 0; f < 2; f++)
        if (count[f] > 0 && (out->ranges[f] = PyMem_Calloc(count[f], sizeof(Range))) == NULL) {
            netset_clear(out);
            PyErr_NoMemory();
            return -1;
        }
    for (size_t off = 0; off < len; off += RANGE_BYTES) {
        int f = p[off] == 6;
        Range r = {read_u128(p + off + 1), read_u128(p + off + 17)};
        u128 top = f ? ~(u128)0 : (u128)UINT32_MAX;
        size_t i = out->n[f];
        if (r.lo > r.hi || r.hi > top || (i > 0 && r.lo <= out->ranges[f][i - 1].hi)) {
            netset_clear(out);
            PyErr_Format(PyExc_ValueError, "%s: ranges must be sorted, disjoint and in range",
                         what);
            return -1;
        }
        out->ranges[f][i] = r;
        out->n[f]++;
    }
    return 0;
}

int netset_covers(const NetSet *set, const Source *s) {
    int f = s->family == 6;
    const Range *r = set->ranges[f];
    size_t lo = 0, hi = set->n[f];
    while (lo < hi) { /* the first range whose last address is >= the source's */
        size_t mid = lo + (hi - lo) / 2;
        if (r[mid].hi < s->address)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < set->n[f] && r[lo].lo <= s->address;
}

static int netset_empty(const NetSet *set) { return set->n[0] == 0 && set->n[1] == 0; }

/* --- access lists ------------------------------------------------------------------- */

Access *access_new(PyObject *allow, PyObject *deny, int drop) {
    Access *a = PyMem_Calloc(1, sizeof(Access));
    if (a == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (netset_from_bytes(allow, "allow", &a->allow) < 0 ||
        netset_from_bytes(deny, "deny", &a->deny) < 0) {
        access_free(a);
        return NULL;
    }
    a->drop = drop;
    return a;
}

void access_free(Access *a) {
    if (a == NULL)
        return;
    netset_clear(&a->allow);
    netset_clear(&a->deny);
    PyMem_Free(a);
}

int access_permits(const Access *a, const Source *s) {
    if (netset_covers(&a->deny, s))
        return 0; /* deny wins */
    return netset_empty(&a->allow) || netset_covers(&a->allow, s);
}

/* --- the refusal ------------------------------------------------------------------- */

static inline unsigned get16(const unsigned char *p) { return (unsigned)p[0] << 8 | p[1]; }

static inline void put16(unsigned char *p, unsigned v) {
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

/* RFC 7871 §6 as wire.py decode_client_subnet checks it: family 1 or 2, a source prefix
 * within the address, exactly its bytes, no bits beyond it, scope 0 in a query. */
static int valid_client_subnet(const unsigned char *body, size_t len) {
    if (len < 4)
        return 0;
    unsigned family = get16(body), source = body[2], scope = body[3];
    unsigned bits = family == 1 ? 32 : family == 2 ? 128 : 0;
    if (bits == 0 || source > bits || len - 4 != (source + 7) / 8 || scope != 0)
        return 0;
    if (source % 8 && (body[len - 1] & (0xFF >> (source % 8))))
        return 0;
    return 1;
}

long refused_reply(const unsigned char *query, size_t len, unsigned char *out, size_t cap,
                   int *qtype) {
    if (len < 12 || (query[2] & FLAG_QR))
        return REFUSE_DROP; /* no ID to answer to, or a response (wire.py): never answered */
    unsigned arcount = get16(query + 10);
    if (get16(query + 4) != 1 || get16(query + 6) != 0 || get16(query + 8) != 0 || arcount > 1)
        return REFUSE_PYTHON;
    size_t end = 12;
    for (;;) { /* the question name, uncompressed, at most 255 bytes (wire.py) */
        if (end >= len)
            return REFUSE_PYTHON;
        unsigned label = query[end];
        if (label == 0) {
            end++;
            break;
        }
        if (label > 63)
            return REFUSE_PYTHON;
        end += label + 1;
        if (end - 12 > 255)
            return REFUSE_PYTHON;
    }
    if (end - 12 > 255 || end + 4 > len)
        return REFUSE_PYTHON;
    *qtype = (int)get16(query + end);
    end += 4;
    size_t question = end - 12;
    unsigned ttl_low = 0;
    const unsigned char *ecs = NULL; /* the Client Subnet option's body, echoed */
    size_t ecs_len = 0;
    if (arcount == 1) { /* an OPT, at most a Client Subnet in it, and nothing after it */
        if (end + 11 > len || query[end] != 0 || get16(query + end + 1) != TYPE_OPT ||
            end + 11 + get16(query + end + 9) != len)
            return REFUSE_PYTHON;
        ttl_low = get16(query + end + 7); /* the DO and CO flags, copied (edns.py encode_opt) */
        size_t at = end + 11;
        while (at < len) {
            if (at + 4 > len || get16(query + at) != OPTION_ECS || ecs != NULL)
                return REFUSE_PYTHON; /* another option (COOKIE, NSID...), two ECS, overrun */
            ecs_len = get16(query + at + 2);
            ecs = query + at + 4;
            if (at + 4 + ecs_len > len || !valid_client_subnet(ecs, ecs_len))
                return REFUSE_PYTHON; /* malformed: the Python path drops it */
            at += 4 + ecs_len;
        }
    } else if (end != len) {
        return REFUSE_PYTHON;
    }
    size_t options = 6 + (ecs != NULL ? 4 + ecs_len : 0);
    size_t size = 12 + question + (arcount ? 11 + options : 0);
    if (size > cap)
        return REFUSE_PYTHON;
    unsigned char *p = out;
    p[0] = query[0];
    p[1] = query[1];
    /* reply.py: QR, the opcode, RD and CD copied, not authoritative, REFUSED */
    unsigned flags = 0x8000 | (get16(query + 2) & (0x7800 | 0x0100 | 0x0010)) | RCODE_REFUSED;
    put16(p + 2, flags);
    put16(p + 4, 1);
    put16(p + 6, 0);
    put16(p + 8, 0);
    put16(p + 10, arcount);
    memcpy(p + 12, query + 12, question);
    p += 12 + question;
    if (arcount) { /* RFC 8914: the EDE only when the query had EDNS */
        p[0] = 0;
        put16(p + 1, TYPE_OPT);
        put16(p + 3, OUR_UDP_PAYLOAD);
        put16(p + 5, 0); /* extended RCODE 0, version 0 */
        put16(p + 7, ttl_low & 0xC000);
        put16(p + 9, (unsigned)options);
        p += 11;
        if (ecs != NULL) { /* RFC 7871 §7.2.1: echoed, SCOPE PREFIX-LENGTH 0 */
            put16(p, OPTION_ECS);
            put16(p + 2, (unsigned)ecs_len);
            memcpy(p + 4, ecs, ecs_len);
            p[4 + 3] = 0;
            p += 4 + ecs_len;
        }
        put16(p, OPTION_EDE);
        put16(p + 2, 2);
        put16(p + 4, EDE_PROHIBITED);
    }
    return (long)size;
}
