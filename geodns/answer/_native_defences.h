/* The defences of the native data plane: what _native.c asks before it answers.
 *
 * Access lists (dns_allow / dns_deny, geodns/answer/acl.py) and the REFUSED + EDE 18 reply
 * to a denied source (geodns/answer/packet.py _deny), and response rate limiting
 * (geodns/answer/rrl.py) over one fixed-size bucket table. Python compiles both from the
 * settings and hands them over whole; C only looks up and counts.
 */
#ifndef GEODNS_NATIVE_DEFENCES_H
#define GEODNS_NATIVE_DEFENCES_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef unsigned __int128 u128;

typedef struct {
    int family; /* 4 or 6; an IPv4-mapped IPv6 source is IPv4, as in Python */
    u128 address;
} Source;

int source_of(const struct sockaddr *sa, Source *out);

/* --- networks and access lists -------------------------------------------------------- */

typedef struct {
    u128 lo, hi; /* first and last address, inclusive */
} Range;

typedef struct {
    Range *ranges[2]; /* [0]: IPv4, [1]: IPv6; sorted, disjoint */
    size_t n[2];
} NetSet;

/* A network set from Python's packed form: 33 bytes a range (family 4 or 6, then the
 * first and the last address as 16 bytes big-endian), sorted and disjoint per family. */
int netset_from_bytes(PyObject *packed, const char *what, NetSet *out);
void netset_clear(NetSet *set);
int netset_covers(const NetSet *set, const Source *s);

typedef struct {
    NetSet allow, deny;
    int drop; /* dns_deny_action = drop: no reply at all */
} Access;

Access *access_new(PyObject *allow, PyObject *deny, int drop);
void access_free(Access *a);
int access_permits(const Access *a, const Source *s);

enum { REFUSE_DROP = 0, REFUSE_PYTHON = -1 };

/* The REFUSED + EDE 18 reply to query (len bytes, at least the 12 of a header) into out
 * (cap bytes): its length; REFUSE_DROP when the Python path drops it too (QR set);
 * REFUSE_PYTHON for any query of another shape than the plain one (a question and at most
 * an empty OPT): the Python path decides those. *qtype: the question's type. */
long refused_reply(const unsigned char *query, size_t len, unsigned char *out, size_t cap,
                   int *qtype);

/* --- response rate limiting (_native_rrl.c) ----------------------------------------- */

enum { RRL_SEND = 0, RRL_DROP = 1, RRL_SLIP = 2 };         /* rrl.py Verdict */
enum { RRL_ERROR = 4, RRL_ALL = 5, RRL_CATEGORIES = 6 };  /* rrl.py Category */
enum { RRL_STARTED = 0, RRL_STOPPED = 1 };
#define RRL_EVENTS 256 /* start/stop lines queued for Python; more are counted, not kept */

typedef struct {
    uint64_t hash, key;
    u128 block;
    int64_t balance, stamp, limited_at, logged_at;
    uint32_t slips, prev, next; /* next, prev: the least-recently-used list */
    uint32_t lprev, lnext;       /* the buckets being limited, in the order they started */
    uint8_t family;
} Bucket;

typedef struct {
    uint8_t what, family, prefix;
    u128 block;
    uint64_t key;
} RrlEvent;

typedef struct {
    int64_t rates[RRL_CATEGORIES];
    int64_t window;
    int slip, prefix[2], log_only;
    NetSet exempt;
    uint64_t all_key, error_key, seed;
    Bucket *buckets;
    uint32_t max, used, head, tail, limited_head, limited_tail;
    uint32_t *index;
    size_t mask;
    int64_t swept_at, lines_at;
    int lines;
    uint64_t dropped[RRL_CATEGORIES], slipped[RRL_CATEGORIES];
    RrlEvent events[RRL_EVENTS];
    uint32_t n_events;
    uint64_t events_lost;
} Rrl;

Rrl *rrl_new(const int64_t rates[RRL_CATEGORIES], int64_t window, int slip, int prefix4,
             int prefix6, PyObject *exempt, int log_only, long max_entries, uint64_t all_key,
             uint64_t error_key, uint64_t seed);
void rrl_free(Rrl *r);
/* RRL_SEND, RRL_DROP or RRL_SLIP for a response of this key id and category to s. */
int rrl_check(Rrl *r, const Source *s, uint64_t key, int category, int64_t now);

#endif
