/* _native: the UDP data plane in C, executing the replies the Python path compiled.
 *
 * An Engine drains a non-blocking UDP socket with recvmmsg and answers with sendmmsg, a
 * batch at a time, for as many packets as the caller's budget allows (the asyncio loop
 * calls serve() from add_reader: no threads, and a busy socket cannot starve the loop).
 * Each datagram's bytes after the ID are looked up in a table of replies; a hit is
 * rendered here (the ID copied; for a pool, the draw done here), anything else is handed
 * to the Python path, which answers it and says what kind of entry its reply is, so the
 * next identical query is a hit. The table holds one snapshot's replies: reset() empties
 * it in one step when the Python side publishes a new snapshot.
 *
 * This module never decodes DNS: Python decides every answer, C only copies bytes and
 * draws (it walks a query's lengths once, to never keep a reply that gets per-client
 * options at send time: asks_send_time_options). Every length is checked against its buffer; the table is bounded in entries and
 * in bytes, so a flood of random names cannot grow it; a hit allocates nothing, except that
 * a per-client query's index of source addresses (Exact) may grow, within its bound and the
 * table's byte budget, when a hit from a new address is remembered.
 */
#include "_native_defences.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "_native_signed.h"

#define BATCH_MAX 256
#define RECV_SIZE 65536             /* the largest UDP payload: never truncated */
#define SEND_SIZE 4096              /* a rendered hit; UDP replies are <= 1232 bytes */
#define MAX_KEY 1024                /* longer queries are answered by Python, never kept */
#define WINDOW 8                    /* slots probed from a key's home slot */
#define TOP_INITIAL 1024
#define CLIENTS_INITIAL 8
#define CLIENTS_MAX_CAPACITY 8192   /* client networks per query: cache.MAX_NETWORKS x 2 */
#define MAX_MEMBERS 1024            /* members of one draw; more: Python draws */
#define MAX_STATS_SLOTS (1u << 20)
#define MAX_ROTATIONS (1u << 20)
#define MAX_BUCKETS 32
#define LATENCY_EVERY 64            /* one query in 64 is timed, as QueryStats does */
#define CLIENT_KEY 18               /* family, scope, 16 bytes of network */
#define EXACT_INITIAL 8
#define EXACT_MAX_CAPACITY 8192     /* source addresses per query: cache.MAX_NETWORKS x 2 */
#define REFUSED_QTYPES 256          /* qtypes counted one by one; the rest together */

enum { E_FIXED = 0, E_DRAWN = 1, E_CLIENTS = 2 };
enum { DRAW_WEIGHTED = 1, DRAW_ROTATE = 2 };

typedef struct Table Table;

typedef struct Entry {
    uint64_t hash;
    uint64_t serial;            /* unique for the engine's life: names this entry, never a
                                   later one in the same memory (an Exact's check) */
    size_t size;                /* bytes this entry holds (its child table counts itself) */
    uint32_t key_len;
    uint8_t kind;
    uint8_t draw;
    uint32_t stats_slot;
    uint32_t rotation;
    uint32_t n;                 /* members of the draw */
    uint32_t count;             /* how many are drawn: min(count, n) */
    uint32_t head_len, tail_len, rec_len, data_len;
    uint64_t rrl_key;           /* what RRL counts the reply as (rrl.py response_key, hashed) */
    uint8_t rrl_category;
    uint8_t has_slip;           /* else a limited reply is dropped, never slipped */
    uint32_t slip_len;
    uint64_t total;             /* sum of the weights */
    const uint64_t *weights;
    const uint32_t *members;    /* member counter slots: one per record (drawn), or the
                                   fixed reply's members */
    uint32_t n_members;
    const unsigned char *key, *head, *records, *tail, *data, *slip;
    SignedSets *sigs;           /* a signed draw: the RRSIG records of each drawn set */
    Table *clients;             /* E_CLIENTS: child entries by client network */
    uint64_t scopes4;           /* E_CLIENTS: bit s set when a child was kept at scope s */
    uint64_t scopes6[3];
    uint64_t blob[];            /* weights, members, then key, head, records, tail, data, slip */
} Entry;

/* A source address remembered under the entry its scope walk found (cache.py PerClient's
 * by_source), so that the next query from it is one hash and one probe. It names the
 * entry by the slot of the clients table holding it and the entry's serial, not by a
 * pointer: it is only believed while that slot still holds that entry, so it dies with
 * the entry however the entry goes (replaced, evicted, dropped when the table grew), and
 * with the table itself (snapshot reset, the parent evicted). */
typedef struct {
    uint64_t hi, lo;            /* the address (IPv4: lo only) */
    uint64_t serial;            /* the entry's; 0: a free slot (never freed again) */
    uint32_t index;             /* the slot of the clients table holding it */
    uint32_t family;
} Exact;

struct Table {
    Entry **slots;
    size_t mask;
    size_t used;
    size_t max_capacity;
    Exact *exact;               /* a clients table's source addresses; NULL until one */
    size_t exact_mask, exact_used;
};

typedef struct {
    PyObject_HEAD
    Table *table;
    uint64_t hash_seed;
    uint64_t rng;
    size_t bytes, max_bytes, max_capacity;
    uint64_t *rotations;
    size_t n_rotations;
    uint64_t *slot_hits;
    size_t n_slots;
    uint64_t *member_hits;      /* answers that carried each member, by member slot */
    size_t n_member_slots;
    uint64_t hits, misses, dropped_short, dropped_response, send_errors, recv_errors;
    uint64_t failures, rejected, resets, evictions;
    uint64_t serials;           /* the last serial given to an entry */
    Access *access;             /* dns_allow / dns_deny; NULL: everyone may ask */
    Rrl *rrl;                   /* response rate limiting; NULL: off */
    int64_t now;                /* whole seconds, as the Python side's clock gave them */
    uint64_t denied_refused, denied_dropped;
    uint64_t refused_qtype[REFUSED_QTYPES + 1]; /* REFUSED replies C built, by qtype */
    uint64_t latency[MAX_BUCKETS + 1];
    uint64_t latency_sum_ns;
    uint64_t bounds_ns[MAX_BUCKETS];
    int n_bounds;
    uint32_t sample_countdown;
    int pass_all;
    int busy;                   /* inside serve() or answer(): no re-entry from the miss handler */
    int batch;
    unsigned char *recv_buf, *send_buf;
    struct mmsghdr *rmsgs, *smsgs;
    struct iovec *riov, *siov;
    struct sockaddr_storage *addrs;
    PyObject **held;
} Engine;

/* --- hashing and random numbers ------------------------------------------------------ */

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

/* Seeded, so that nobody outside can aim keys at one window of the table. */
static uint64_t hash_bytes(uint64_t seed, const unsigned char *p, size_t n) {
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (n + 1));
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = mix64(h ^ w) + 0x632be59bd9b4e019ULL;
        p += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    return mix64(h ^ w ^ ((uint64_t)n << 56));
}

static inline uint64_t next_random(Engine *e) {  /* splitmix64 */
    e->rng += 0x9e3779b97f4a7c15ULL;
    return mix64(e->rng);
}

static inline uint64_t below(Engine *e, uint64_t bound) {  /* uniform in [0, bound) */
    return (uint64_t)(((unsigned __int128)next_random(e) * bound) >> 64);
}

/* --- the table ----------------------------------------------------------------------- */

static Table *table_new(Engine *e, size_t capacity, size_t max_capacity) {
    Table *t = PyMem_Calloc(1, sizeof(Table));
    if (t == NULL)
        return NULL;
    t->slots = PyMem_Calloc(capacity, sizeof(Entry *));
    if (t->slots == NULL) {
        PyMem_Free(t);
        return NULL;
    }
    t->mask = capacity - 1;
    t->max_capacity = max_capacity;
    e->bytes += sizeof(Table) + capacity * sizeof(Entry *);
    return t;
}

static void table_free(Engine *e, Table *t);

static void entry_free(Engine *e, Entry *entry) {
    if (entry->clients != NULL)
        table_free(e, entry->clients);
    signed_sets_free(entry->sigs);
    e->bytes -= entry->size;
    PyMem_Free(entry);
}

static void table_free(Engine *e, Table *t) {
    for (size_t i = 0; i <= t->mask; i++)
        if (t->slots[i] != NULL)
            entry_free(e, t->slots[i]);
    e->bytes -= sizeof(Table) + (t->mask + 1) * sizeof(Entry *);
    if (t->exact != NULL)
        e->bytes -= (t->exact_mask + 1) * sizeof(Exact);
    PyMem_Free(t->exact);
    PyMem_Free(t->slots);
    PyMem_Free(t);
}

static inline int same_key(const Entry *x, uint64_t hash, const unsigned char *key, size_t len) {
    return x->hash == hash && x->key_len == len && memcmp(x->key, key, len) == 0;
}

/* Entries are only ever replaced, never removed, so a free slot ends every probe.
 * The slot holding the entry of this key, or NULL. */
static Entry **table_slot(const Table *t, uint64_t hash, const unsigned char *key, size_t len) {
    for (size_t i = 0; i < WINDOW; i++) {
        Entry **slot = &t->slots[(hash + i) & t->mask];
        if (*slot == NULL)
            return NULL;
        if (same_key(*slot, hash, key, len))
            return slot;
    }
    return NULL;
}

static inline Entry *table_get(const Table *t, uint64_t hash, const unsigned char *key,
                               size_t len) {
    Entry **slot = table_slot(t, hash, key, len);
    return slot != NULL ? *slot : NULL;
}

/* Place without growing: 0 when placed, -1 when the window is full. */
static int table_place(Engine *e, Table *t, Entry *entry) {
    for (size_t i = 0; i < WINDOW; i++) {
        Entry **slot = &t->slots[(entry->hash + i) & t->mask];
        if (*slot == NULL) {
            *slot = entry;
            t->used++;
            return 0;
        }
        if (same_key(*slot, entry->hash, entry->key, entry->key_len)) {
            entry_free(e, *slot);
            *slot = entry;
            return 0;
        }
    }
    return -1;
}

static int table_grow(Engine *e, Table *t) {
    size_t capacity = (t->mask + 1) * 2;
    Entry **old = t->slots;
    size_t old_capacity = t->mask + 1;
    Entry **slots = PyMem_Calloc(capacity, sizeof(Entry *));
    if (slots == NULL)
        return -1;
    t->slots = slots;
    t->mask = capacity - 1;
    t->used = 0;
    e->bytes += (capacity - old_capacity) * sizeof(Entry *);
    for (size_t i = 0; i < old_capacity; i++)
        if (old[i] != NULL && table_place(e, t, old[i]) < 0)
            entry_free(e, old[i]);  /* its new window is full: it is only a cache */
    PyMem_Free(old);
    return 0;
}

/* Keep entry in t: in a free slot of its window, else the table grows up to its bound,
 * else a random entry of the window makes room (bounded, and no full flush). */
static void table_put(Engine *e, Table *t, Entry *entry) {
    if ((t->used + 1) * 2 > t->mask + 1 && t->mask + 1 < t->max_capacity)
        table_grow(e, t);  /* on failure the table stays as it is: still correct */
    if (table_place(e, t, entry) == 0)
        return;
    if (t->mask + 1 < t->max_capacity && table_grow(e, t) == 0 && table_place(e, t, entry) == 0)
        return;
    Entry **victim = &t->slots[(entry->hash + (next_random(e) & (WINDOW - 1))) & t->mask];
    entry_free(e, *victim);
    *victim = entry;
    e->evictions++;
}

static int engine_reset_table(Engine *e) {
    Table *fresh = table_new(e, TOP_INITIAL, e->max_capacity);
    if (fresh == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Table *old = e->table;
    e->table = fresh;  /* the swap: from here every lookup sees the new, empty table */
    if (old != NULL)
        table_free(e, old);
    PyMem_Free(e->rotations);
    e->rotations = NULL;
    e->n_rotations = 0;
    return 0;
}

/* --- client networks ----------------------------------------------------------------- */

/* The key of the network of width scope that holds source (cache.ByNetwork's key). */
static void client_key(const Source *s, int scope, unsigned char key[CLIENT_KEY]) {
    int bits = s->family == 4 ? 32 : 128;
    unsigned __int128 network = scope == 0 ? 0 : s->address >> (bits - scope);
    key[0] = (unsigned char)s->family;
    key[1] = (unsigned char)scope;
    for (int i = 0; i < 16; i++)
        key[2 + i] = (unsigned char)(network >> (8 * (15 - i)));
}

static inline int scope_seen(const Entry *c, int family, int scope) {
    if (family == 4)
        return (c->scopes4 >> scope) & 1;
    return (c->scopes6[scope >> 6] >> (scope & 63)) & 1;
}

/* --- source addresses: the exact-source index of a clients table (Exact) ------------- */

/* Seeded, as hash_bytes: nobody outside can aim source addresses at one window. */
static inline uint64_t exact_hash(const Engine *e, uint64_t hi, uint64_t lo, uint32_t family) {
    return mix64(e->hash_seed ^ lo ^ mix64(hi ^ family));
}

/* In t's index, the slot of this address, else the first free one of its window; NULL
 * when the window holds neither. Slots are only overwritten, never freed, so a free slot
 * ends the probe. */
static Exact *exact_slot(const Table *t, uint64_t h, uint64_t hi, uint64_t lo, uint32_t family) {
    for (size_t i = 0; i < WINDOW; i++) {
        Exact *x = &t->exact[(h + i) & t->exact_mask];
        if (x->serial == 0 || (x->lo == lo && x->hi == hi && x->family == family))
            return x;
    }
    return NULL;
}

/* The entry x names while the slot it names still holds that entry; else NULL. */
static inline Entry *exact_target(const Table *t, const Exact *x) {
    if (x->serial == 0 || x->index > t->mask)
        return NULL;
    Entry *found = t->slots[x->index];
    return found != NULL && found->serial == x->serial ? found : NULL;
}

/* A bigger index (or the first) holding what the old one names still; -1 when it cannot
 * be had (no memory, or the engine's byte budget): then t keeps the index it has. */
static int exact_grow(Engine *e, Table *t, size_t capacity) {
    size_t old_capacity = t->exact != NULL ? t->exact_mask + 1 : 0;
    if (e->bytes + capacity * sizeof(Exact) > e->max_bytes)
        return -1;  /* over budget the index stays as it is: keep() resets the table */
    Exact *fresh = PyMem_Calloc(capacity, sizeof(Exact));
    if (fresh == NULL)
        return -1;
    Exact *old = t->exact;
    t->exact = fresh;
    t->exact_mask = capacity - 1;
    t->exact_used = 0;
    e->bytes += capacity * sizeof(Exact);
    for (size_t i = 0; i < old_capacity; i++) {
        if (exact_target(t, &old[i]) == NULL)
            continue;  /* its entry is gone: forgotten */
        Exact *slot = exact_slot(t, exact_hash(e, old[i].hi, old[i].lo, old[i].family),
                                 old[i].hi, old[i].lo, old[i].family);
        if (slot != NULL) {  /* else its new window is full: it is only a shortcut */
            *slot = old[i];
            t->exact_used++;
        }
    }
    if (old != NULL) {
        e->bytes -= old_capacity * sizeof(Exact);
        PyMem_Free(old);
    }
    return 0;
}

/* Remember that the source (hi, lo, family) is answered by the entry in slot index of t.
 * Bounded as table_put: a free slot of the window, else the index grows up to its bound,
 * else a slot whose entry is gone, else a random one of the window is overwritten. */
static void exact_put(Engine *e, Table *t, uint64_t h, uint64_t hi, uint64_t lo, uint32_t family,
                      const Entry *found, size_t index) {
    if (t->exact == NULL) {
        if (exact_grow(e, t, EXACT_INITIAL) < 0)
            return;
    } else if ((t->exact_used + 1) * 2 > t->exact_mask + 1 &&
               t->exact_mask + 1 < EXACT_MAX_CAPACITY) {
        exact_grow(e, t, (t->exact_mask + 1) * 2);  /* on failure: the index it has */
    }
    Exact *x = exact_slot(t, h, hi, lo, family);
    if (x == NULL) {
        for (size_t i = 0; i < WINDOW && x == NULL; i++) {
            Exact *candidate = &t->exact[(h + i) & t->exact_mask];
            if (exact_target(t, candidate) == NULL)
                x = candidate;
        }
        if (x == NULL)
            x = &t->exact[(h + (next_random(e) & (WINDOW - 1))) & t->exact_mask];
    } else if (x->serial == 0) {
        t->exact_used++;
    }
    x->hi = hi;
    x->lo = lo;
    x->family = family;
    x->serial = found->serial;
    x->index = (uint32_t)index;
}

/* The child of c for source s: by its exact address first (one hash, one probe), else by
 * each scope seen, most specific first, as ByNetwork, and then remembered by the address. */
static Entry *clients_get(Engine *e, const Entry *c, const Source *s) {
    Table *t = c->clients;
    uint64_t hi = (uint64_t)(s->address >> 64), lo = (uint64_t)s->address;
    uint32_t family = (uint32_t)s->family;
    uint64_t h = exact_hash(e, hi, lo, family);
    if (t->exact != NULL) {
        Exact *x = exact_slot(t, h, hi, lo, family);
        Entry *found = x != NULL ? exact_target(t, x) : NULL;
        if (found != NULL)
            return found;
    }
    int top = s->family == 4 ? 32 : 128;
    unsigned char key[CLIENT_KEY];
    for (int scope = top; scope >= 0; scope--) {  /* most specific first, as ByNetwork */
        if (!scope_seen(c, s->family, scope))
            continue;
        client_key(s, scope, key);
        Entry **slot = table_slot(t, hash_bytes(e->hash_seed, key, CLIENT_KEY), key, CLIENT_KEY);
        if (slot != NULL) {
            exact_put(e, t, h, hi, lo, family, *slot, (size_t)(slot - t->slots));
            return *slot;
        }
    }
    return NULL;
}

/* --- rendering ----------------------------------------------------------------------- */

static inline uint32_t drawn(const Entry *x) { return x->count < x->n ? x->count : x->n; }

static inline uint64_t position_bit(size_t i) { return i < 64 ? 1ULL << i : 0; }

/* The reply to query (whose first two bytes are its ID) into out, which holds SEND_SIZE;
 * 0 when it is a signed draw whose drawn set is not signed yet (then Python answers). */
static size_t render(Engine *e, const Entry *x, const unsigned char *query, unsigned char *out) {
    out[0] = query[0];
    out[1] = query[1];
    if (x->kind == E_FIXED) {
        memcpy(out + 2, x->data, x->data_len);
        for (uint32_t i = 0; i < x->n_members; i++)
            e->member_hits[x->members[i]]++;
        return 2 + (size_t)x->data_len;
    }
    /* a member slot per record; a signed draw counts its members once its set is found */
    const int counted = x->n_members == x->n && x->sigs == NULL;
    uint64_t picked = 0;  /* the drawn positions, for a signed draw's RRSIG lookup */
    unsigned char *p = out + 2;
    memcpy(p, x->head, x->head_len);
    p += x->head_len;
    uint32_t n = x->n, k = drawn(x), rec = x->rec_len;
    if (x->draw == DRAW_ROTATE) {
        uint64_t start = x->rotation < e->n_rotations ? e->rotations[x->rotation]++ % n : 0;
        for (uint32_t i = 0; i < k; i++) {
            size_t r = (size_t)((start + i) % n);
            picked |= position_bit(r);
            memcpy(p, x->records + r * rec, rec);
            p += rec;
            if (counted)
                e->member_hits[x->members[r]]++;
        }
    } else if (n == 1) {
        picked = 1;
        memcpy(p, x->records, rec);
        p += rec;
        if (counted)
            e->member_hits[x->members[0]]++;
    } else {
        /* weighted sample without replacement: successive draws, each in proportion to
         * the weights left (pools/draw.py weighted_sample); order of the rest kept */
        uint64_t weights[MAX_MEMBERS];
        uint16_t left[MAX_MEMBERS];
        uint64_t total = x->total;
        memcpy(weights, x->weights, n * sizeof(uint64_t));
        for (uint32_t i = 0; i < n; i++)
            left[i] = (uint16_t)i;
        uint32_t remaining = n;
        for (uint32_t i = 0; i < k; i++) {
            uint32_t j = remaining - 1;  /* all weights 0: the last, as Python picks it */
            if (total > 0) {
                uint64_t point = below(e, total);
                for (j = 0; j < remaining - 1; j++) {
                    if (point < weights[j])
                        break;
                    point -= weights[j];
                }
            }
            picked |= position_bit(left[j]);
            memcpy(p, x->records + (size_t)left[j] * rec, rec);
            p += rec;
            if (counted)
                e->member_hits[x->members[left[j]]]++;
            total -= weights[j];
            remaining--;
            memmove(weights + j, weights + j + 1, (remaining - j) * sizeof(uint64_t));
            memmove(left + j, left + j + 1, (remaining - j) * sizeof(uint16_t));
        }
    }
    if (x->sigs != NULL) {
        /* the drawn set's RRSIGs follow its records, as Reply.assemble writes them; the
         * counts and the size (checked when kept) already include them */
        const unsigned char *sig = signed_sets_find(x->sigs, picked);
        if (sig == NULL)
            return 0;
        memcpy(p, sig, x->sigs->record_len);
        p += x->sigs->record_len;
        if (x->n_members == x->n)
            for (uint32_t i = 0; i < n && i < 64; i++)
                if (picked & (1ULL << i))
                    e->member_hits[x->members[i]]++;
    }
    memcpy(p, x->tail, x->tail_len);
    p += x->tail_len;
    return (size_t)(p - out);
}

/* --- entries from the Python side's description -------------------------------------- */

static int bytes_of(PyObject *o, const char *what, const char **data, Py_ssize_t *len) {
    if (!PyBytes_Check(o)) {
        PyErr_Format(PyExc_TypeError, "%s must be bytes", what);
        return -1;
    }
    *data = PyBytes_AS_STRING(o);
    *len = PyBytes_GET_SIZE(o);
    return 0;
}

static int index_of(PyObject *o, const char *what, long low, long high, long *out) {
    long v = PyLong_AsLong(o);
    if (v == -1 && PyErr_Occurred())
        return -1;
    if (v < low || v > high) {
        PyErr_Format(PyExc_ValueError, "%s %ld is outside %ld..%ld", what, v, low, high);
        return -1;
    }
    *out = v;
    return 0;
}

static int grow_counts(uint64_t **array, size_t *n, size_t want) {
    if (want <= *n)
        return 0;
    size_t size = *n ? *n : 64;
    while (size < want)
        size *= 2;
    uint64_t *bigger = PyMem_Realloc(*array, size * sizeof(uint64_t));
    if (bigger == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(bigger + *n, 0, (size - *n) * sizeof(uint64_t));
    *array = bigger;
    *n = size;
    return 0;
}

/* spec is (kind, scope, stats_slot, ..., rrl_key, rrl_category, slip):
 *   (0, scope, slot, data, members, ...)                  every byte after the ID fixed
 *   (1, scope, slot, head, tail, records, weights, count, draw, rotation, start, members,
 *    [signed,] ...)
 * rrl_key: the reply's RRL key id; rrl_category its rate's index; slip: the bytes after the
 * ID of its slipped (TC) form, or None (an error: dropped when limited).
 * members: counter slots, one per record of a draw, or the members a fixed reply holds.
 * signed: a signed draw's sets, (masks, records, record_len) (_native_signed.h), or None.
 * rotation: the pool's round-robin counter (one per pool and snapshot), set to start,
 * the value the Python path's own rotation would have given next.
 * scope -1: the reply holds for every client sending these bytes; scope >= 0: for the
 * source network of that width only. Returns a new entry keyed by key, or NULL. */
static Entry *entry_from_spec(Engine *e, PyObject *spec, const unsigned char *key, size_t key_len,
                              long *scope_out) {
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 3) {
        PyErr_SetString(PyExc_TypeError, "an entry is a tuple (kind, scope, slot, ...)");
        return NULL;
    }
    long kind, scope, slot;
    if (index_of(PyTuple_GET_ITEM(spec, 0), "kind", E_FIXED, E_DRAWN, &kind) < 0 ||
        index_of(PyTuple_GET_ITEM(spec, 1), "scope", -1, 128, &scope) < 0 ||
        index_of(PyTuple_GET_ITEM(spec, 2), "stats slot", 0, MAX_STATS_SLOTS - 1, &slot) < 0)
        return NULL;
    const char *head = NULL, *tail = NULL, *data = NULL;
    Py_ssize_t head_len = 0, tail_len = 0, data_len = 0, rec_len = 0, n = 0;
    long count = 0, draw = 0, rotation = 0;
    unsigned long long start = 0;
    PyObject *records = NULL, *weights = NULL, *members = NULL, *signed_spec = Py_None;
    size_t room = 0;
    if (kind == E_FIXED) {
        if (PyTuple_GET_SIZE(spec) != 8) {
            PyErr_SetString(PyExc_TypeError, "a fixed entry has 8 fields");
            return NULL;
        }
        if (bytes_of(PyTuple_GET_ITEM(spec, 3), "data", &data, &data_len) < 0)
            return NULL;
        if (data_len < 10 || data_len + 2 > SEND_SIZE) {
            PyErr_Format(PyExc_ValueError, "a fixed reply of %zd bytes cannot be kept", data_len);
            return NULL;
        }
        members = PyTuple_GET_ITEM(spec, 4);
    } else {
        if (PyTuple_GET_SIZE(spec) != 15 && PyTuple_GET_SIZE(spec) != 16) {
            PyErr_SetString(PyExc_TypeError, "a drawn entry has 15 fields, or 16 when signed");
            return NULL;
        }
        if (PyTuple_GET_SIZE(spec) == 16)
            signed_spec = PyTuple_GET_ITEM(spec, 12);
        members = PyTuple_GET_ITEM(spec, 11);
        if (bytes_of(PyTuple_GET_ITEM(spec, 3), "head", &head, &head_len) < 0 ||
            bytes_of(PyTuple_GET_ITEM(spec, 4), "tail", &tail, &tail_len) < 0)
            return NULL;
        records = PyTuple_GET_ITEM(spec, 5);
        weights = PyTuple_GET_ITEM(spec, 6);
        if (!PyTuple_Check(records) || !PyTuple_Check(weights)) {
            PyErr_SetString(PyExc_TypeError, "records and weights must be tuples");
            return NULL;
        }
        n = PyTuple_GET_SIZE(records);
        if (index_of(PyTuple_GET_ITEM(spec, 7), "count", 1, MAX_MEMBERS, &count) < 0 ||
            index_of(PyTuple_GET_ITEM(spec, 8), "draw", DRAW_WEIGHTED, DRAW_ROTATE, &draw) < 0 ||
            index_of(PyTuple_GET_ITEM(spec, 9), "rotation", 0, MAX_ROTATIONS - 1, &rotation) < 0)
            return NULL;
        start = PyLong_AsUnsignedLongLongMask(PyTuple_GET_ITEM(spec, 10));
        if (start == (unsigned long long)-1 && PyErr_Occurred())
            return NULL;
        if (n < 1 || n > MAX_MEMBERS) {
            PyErr_Format(PyExc_ValueError, "a draw over %zd members is not kept", n);
            return NULL;
        }
        if (draw == DRAW_WEIGHTED && PyTuple_GET_SIZE(weights) != n) {
            PyErr_SetString(PyExc_ValueError, "one weight per record");
            return NULL;
        }
        if (PyTuple_Check(members) && PyTuple_GET_SIZE(members) != n) {
            PyErr_SetString(PyExc_ValueError, "one member slot per record");
            return NULL;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            const char *r;
            Py_ssize_t r_len;
            if (bytes_of(PyTuple_GET_ITEM(records, i), "record", &r, &r_len) < 0)
                return NULL;
            if (i == 0)
                rec_len = r_len;
            if (r_len != rec_len || r_len == 0) {
                PyErr_SetString(PyExc_ValueError, "the records of one draw have one length");
                return NULL;
            }
        }
        size_t k = (size_t)(count < n ? count : n);
        if (2 + (size_t)head_len + k * (size_t)rec_len + (size_t)tail_len > SEND_SIZE ||
            head_len < 10) {
            PyErr_SetString(PyExc_ValueError, "a drawn reply of this size cannot be kept");
            return NULL;
        }
        room = SEND_SIZE - (2 + (size_t)head_len + k * (size_t)rec_len + (size_t)tail_len);
    }
    if (!PyTuple_Check(members) || PyTuple_GET_SIZE(members) > MAX_MEMBERS) {
        PyErr_Format(PyExc_TypeError, "members: a tuple of at most %d slots", MAX_MEMBERS);
        return NULL;
    }
    Py_ssize_t last = PyTuple_GET_SIZE(spec);
    PyObject *key_object = PyTuple_GET_ITEM(spec, last - 3);
    if (!PyLong_Check(key_object)) {
        PyErr_SetString(PyExc_TypeError, "rrl_key must be an int");
        return NULL;
    }
    unsigned long long rrl_key = PyLong_AsUnsignedLongLongMask(key_object);
    if (rrl_key == (unsigned long long)-1 && PyErr_Occurred())
        return NULL;
    long rrl_category;
    if (index_of(PyTuple_GET_ITEM(spec, last - 2), "rrl category", 0, RRL_ERROR, &rrl_category) < 0)
        return NULL;
    PyObject *slip_object = PyTuple_GET_ITEM(spec, last - 1);
    const char *slip = NULL;
    Py_ssize_t slip_len = 0;
    if (slip_object != Py_None) {
        if (bytes_of(slip_object, "slip", &slip, &slip_len) < 0)
            return NULL;
        if (slip_len < 10 || slip_len + 2 > SEND_SIZE) {
            PyErr_Format(PyExc_ValueError, "a slip form of %zd bytes cannot be kept", slip_len);
            return NULL;
        }
    }
    size_t n_members = (size_t)PyTuple_GET_SIZE(members);
    size_t n_weights = draw == DRAW_WEIGHTED ? (size_t)n : 0;
    size_t members_size = (n_members * sizeof(uint32_t) + 7) & ~(size_t)7;  /* keeps 8-byte steps */
    size_t payload = n_weights * sizeof(uint64_t) + members_size + key_len + (size_t)head_len +
                     (size_t)n * (size_t)rec_len + (size_t)tail_len + (size_t)data_len +
                     (size_t)slip_len;
    size_t size = sizeof(Entry) + payload;
    Entry *x = PyMem_Calloc(1, size);
    if (x == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    x->size = size;
    x->kind = (uint8_t)kind;
    x->draw = (uint8_t)draw;
    x->stats_slot = (uint32_t)slot;
    x->rotation = (uint32_t)rotation;
    x->n = (uint32_t)n;
    x->count = (uint32_t)count;
    uint64_t *w = x->blob;
    uint32_t *slots = (uint32_t *)(x->blob + n_weights);
    unsigned char *p = (unsigned char *)slots + members_size;
    size_t most = 0;
    for (size_t i = 0; i < n_members; i++) {
        long v;
        if (index_of(PyTuple_GET_ITEM(members, (Py_ssize_t)i), "member slot", 0,
                     MAX_STATS_SLOTS - 1, &v) < 0) {
            PyMem_Free(x);
            return NULL;
        }
        slots[i] = (uint32_t)v;
        if ((size_t)v + 1 > most)
            most = (size_t)v + 1;
    }
    x->members = slots;
    x->n_members = (uint32_t)n_members;
    for (size_t i = 0; i < n_weights; i++) {
        long long v = PyLong_AsLongLong(PyTuple_GET_ITEM(weights, (Py_ssize_t)i));
        if ((v == -1 && PyErr_Occurred()) || v < 0 || v > UINT32_MAX) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_ValueError, "weights are from 0 to 2**32-1");
            PyMem_Free(x);
            return NULL;
        }
        w[i] = (uint64_t)v;
        x->total += (uint64_t)v;
    }
    x->weights = w;
    x->key = p;
    x->key_len = (uint32_t)key_len;
    memcpy(p, key, key_len);
    p += key_len;
    if (kind == E_FIXED) {
        x->data = p;
        x->data_len = (uint32_t)data_len;
        memcpy(p, data, (size_t)data_len);
    } else {
        x->head = p;
        x->head_len = (uint32_t)head_len;
        memcpy(p, head, (size_t)head_len);
        p += head_len;
        x->records = p;
        x->rec_len = (uint32_t)rec_len;
        for (Py_ssize_t i = 0; i < n; i++) {
            memcpy(p, PyBytes_AS_STRING(PyTuple_GET_ITEM(records, i)), (size_t)rec_len);
            p += rec_len;
        }
        x->tail = p;
        x->tail_len = (uint32_t)tail_len;
        memcpy(p, tail, (size_t)tail_len);
        p += tail_len;
    }
    if (kind == E_FIXED)
        p += data_len;
    x->rrl_key = rrl_key;
    x->rrl_category = (uint8_t)rrl_category;
    x->has_slip = slip != NULL;
    x->slip = p;
    x->slip_len = (uint32_t)slip_len;
    if (slip != NULL)
        memcpy(p, slip, (size_t)slip_len);
    if (grow_counts(&e->slot_hits, &e->n_slots, (size_t)slot + 1) < 0 ||
        grow_counts(&e->member_hits, &e->n_member_slots, most) < 0 ||
        (draw == DRAW_ROTATE && grow_counts(&e->rotations, &e->n_rotations, (size_t)rotation + 1) < 0)) {
        PyMem_Free(x);
        return NULL;
    }
    if (signed_spec != Py_None) {  /* last: the failures above need not free it */
        size_t sigs_size = 0;
        x->sigs = signed_sets_from_spec(signed_spec, (uint32_t)n, room, &sigs_size);
        if (x->sigs == NULL) {
            PyMem_Free(x);
            return NULL;
        }
        size += sigs_size;  /* the entry's bytes include its signatures */
        x->size = size;
    }
    if (draw == DRAW_ROTATE)
        e->rotations[rotation] = start;
    x->serial = ++e->serials;
    e->bytes += size;
    *scope_out = scope;
    return x;
}

static Entry *clients_entry(Engine *e, uint64_t hash, const unsigned char *key, size_t key_len) {
    size_t size = sizeof(Entry) + key_len;
    Entry *c = PyMem_Calloc(1, size);
    if (c == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    c->clients = table_new(e, CLIENTS_INITIAL, CLIENTS_MAX_CAPACITY);
    if (c->clients == NULL) {
        PyMem_Free(c);
        PyErr_NoMemory();
        return NULL;
    }
    c->size = size;
    c->kind = E_CLIENTS;
    c->hash = hash;
    c->key = (unsigned char *)c->blob;
    c->key_len = (uint32_t)key_len;
    memcpy(c->blob, key, key_len);
    e->bytes += size;
    return c;
}

/* Keep what the Python path said about the reply to query (its bytes after the ID are the
 * key). Returns -1 with an exception set when the description is not one C can keep. */
static int keep(Engine *e, PyObject *spec, const unsigned char *query, size_t len, uint64_t hash,
                const struct sockaddr *sa) {
    const unsigned char *key = query + 2;
    size_t key_len = len - 2;
    if (e->bytes > e->max_bytes) {  /* over budget: start over, as cache.py does */
        if (engine_reset_table(e) < 0)
            return -1;
        e->resets++;
    }
    long scope;
    Source source;
    unsigned char ckey[CLIENT_KEY];
    PyObject *kind = PyTuple_Check(spec) && PyTuple_GET_SIZE(spec) >= 2 ? PyTuple_GET_ITEM(spec, 1)
                                                                        : NULL;
    long peek = kind != NULL ? PyLong_AsLong(kind) : -1;
    if (peek == -1 && PyErr_Occurred())
        return -1;
    if (peek >= 0) {  /* per client network: the child's key is the network */
        if (source_of(sa, &source) < 0) {
            PyErr_SetString(PyExc_ValueError, "no client network for this address family");
            return -1;
        }
        int bits = source.family == 4 ? 32 : 128;
        client_key(&source, peek > bits ? bits : (int)peek, ckey);
    }
    Entry *x = peek >= 0 ? entry_from_spec(e, spec, ckey, CLIENT_KEY, &scope)
                         : entry_from_spec(e, spec, key, key_len, &scope);
    if (x == NULL)
        return -1;
    if (scope < 0) {
        x->hash = hash;
        table_put(e, e->table, x);
        return 0;
    }
    x->hash = hash_bytes(e->hash_seed, ckey, CLIENT_KEY);
    Entry *c = table_get(e->table, hash, key, key_len);
    if (c == NULL || c->kind != E_CLIENTS) {
        c = clients_entry(e, hash, key, key_len);
        if (c == NULL) {
            entry_free(e, x);
            return -1;
        }
        table_put(e, e->table, c);
    }
    int s = ckey[1];
    if (source.family == 4)
        c->scopes4 |= 1ULL << s;
    else
        c->scopes6[s >> 6] |= 1ULL << (s & 63);
    table_put(e, c->clients, x);
    return 0;
}

/* --- send-time options ------------------------------------------------------------- */

#define OPTION_NSID 3    /* RFC 5001 */
#define OPTION_COOKIE 10 /* RFC 7873 */

/* Offset after the name at off (labels, ending in a zero or a pointer), or 0 when it runs
 * past len. Only lengths are read: the Python path has judged the name already. */
static size_t name_end(const unsigned char *p, size_t len, size_t off) {
    while (off < len) {
        unsigned char l = p[off];
        if (l == 0)
            return off + 1;
        if ((l & 0xC0) == 0xC0)
            return off + 2 <= len ? off + 2 : 0;
        if (l > 63)
            return 0;
        off += (size_t)l + 1;
    }
    return 0;
}

/* Whether a reply to this query gets options at send time (a COOKIE with a fresh server
 * cookie for this client, NSID), which a kept reply would lack: then it is never kept, and
 * every such query goes to Python. 1 as well when the packet cannot be walked. */
static int asks_send_time_options(const unsigned char *p, size_t len) {
    if (len < 12)
        return 1;
    unsigned records = ((unsigned)p[6] << 8 | p[7]) + ((unsigned)p[8] << 8 | p[9]) +
                       ((unsigned)p[10] << 8 | p[11]);
    size_t qd = (unsigned)p[4] << 8 | p[5];
    size_t off = 12;
    for (size_t i = 0; i < qd; i++) {
        off = name_end(p, len, off);
        if (off == 0 || off + 4 > len)
            return 1;
        off += 4;
    }
    for (unsigned i = 0; i < records; i++) {
        off = name_end(p, len, off);
        if (off == 0 || off + 10 > len)
            return 1;
        unsigned type = (unsigned)p[off] << 8 | p[off + 1];
        size_t rdlen = (size_t)p[off + 8] << 8 | p[off + 9];
        off += 10;
        if (rdlen > len - off)
            return 1;
        if (type == 41) { /* OPT: walk its options */
            size_t o = off, end = off + rdlen;
            while (o + 4 <= end) {
                unsigned code = (unsigned)p[o] << 8 | p[o + 1];
                size_t olen = (size_t)p[o + 2] << 8 | p[o + 3];
                if (code == OPTION_COOKIE || code == OPTION_NSID)
                    return 1;
                if (olen > end - o - 4)
                    return 1;
                o += 4 + olen;
            }
        }
        off += rdlen;
    }
    return 0;
}

/* --- one packet ---------------------------------------------------------------------- */

static PyObject *host_text(const struct sockaddr *sa) {
    char text[INET6_ADDRSTRLEN];
    const void *address = sa->sa_family == AF_INET6
                              ? (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr
                              : (const void *)&((const struct sockaddr_in *)sa)->sin_addr;
    if (inet_ntop(sa->sa_family, address, text, sizeof text) == NULL)
        return PyErr_SetFromErrno(PyExc_OSError);
    return PyUnicode_FromString(text);
}

enum { DROP = 0, RENDERED = 1, FROM_PYTHON = 2 };

/* Whether sa gives a source, read into s the first time it is asked (*state -1: not yet):
 * a static answer with no access list and RRL off never reads it. */
static inline int read_source(const struct sockaddr *sa, Source *s, int *state) {
    if (*state < 0)
        *state = source_of(sa, s) == 0;
    return *state;
}

/* Answer one query: DROP, RENDERED (out holds *out_len bytes) or FROM_PYTHON (*held is the
 * reply, a new reference). strict: propagate what Python raised instead of counting it. */
static int handle(Engine *e, const unsigned char *query, size_t len, const struct sockaddr *sa,
                  PyObject *miss, unsigned char *out, size_t *out_len, PyObject **held,
                  int strict) {
    uint64_t hash = 0;
    Source source;
    int have_source = -1, denied = 0;  /* the source is read only when something needs it */
    if (e->access != NULL && read_source(sa, &source, &have_source) &&
        !access_permits(e->access, &source)) {
        /* before anything is read, as packet.py: dropped, or REFUSED + EDE 18 built here
         * when the query has the plain shape; any other shape is the Python path's */
        if (e->access->drop) {
            e->denied_dropped++;
            return DROP;
        }
        int qtype = 0;
        long n = refused_reply(query, len, out, SEND_SIZE, &qtype);
        if (n == REFUSE_DROP) {
            e->denied_refused++;
            return DROP;
        }
        if (n > 0) {
            e->denied_refused++;
            if (e->rrl != NULL && rrl_check(e->rrl, &source, e->rrl->error_key, RRL_ERROR,
                                            e->now) != RRL_SEND)
                return DROP; /* an error is never slipped */
            e->refused_qtype[qtype < REFUSED_QTYPES ? qtype : REFUSED_QTYPES]++;
            *out_len = (size_t)n;
            return RENDERED;
        }
        denied = 1;
        goto python; /* the Python path denies it too, and says how */
    }
    if (!e->pass_all) {
        if (len < 12) {
            e->dropped_short++;  /* no ID to answer to */
            return DROP;
        }
        if (query[2] & 0x80) {
            e->dropped_response++;  /* QR set: never answer a response (RFC 8906 §3.1.1) */
            return DROP;
        }
        if (len - 2 <= MAX_KEY) {
            hash = hash_bytes(e->hash_seed, query + 2, len - 2);
            Entry *x = table_get(e->table, hash, query + 2, len - 2);
            if (x != NULL && x->kind == E_CLIENTS)
                x = read_source(sa, &source, &have_source) ? clients_get(e, x, &source) : NULL;
            if (x != NULL && e->rrl != NULL && read_source(sa, &source, &have_source)) {
                int verdict = rrl_check(e->rrl, &source, x->rrl_key, x->rrl_category, e->now);
                if (verdict == RRL_DROP || (verdict == RRL_SLIP && !x->has_slip))
                    return DROP;
                if (verdict == RRL_SLIP) { /* the truncated form: the client retries over TCP */
                    out[0] = query[0];
                    out[1] = query[1];
                    memcpy(out + 2, x->slip, x->slip_len);
                    *out_len = 2 + (size_t)x->slip_len;
                    e->slot_hits[x->stats_slot]++;
                    e->hits++;
                    return RENDERED;
                }
            }
            if (x != NULL && (*out_len = render(e, x, query, out)) != 0) {
                e->slot_hits[x->stats_slot]++;
                e->hits++;
                return RENDERED;
            }
            /* else not kept, or a signed draw of a set not signed yet: Python's turn */
        }
    }
python:
    e->misses++;
    PyObject *packet = PyBytes_FromStringAndSize((const char *)query, (Py_ssize_t)len);
    PyObject *host = packet != NULL ? host_text(sa) : NULL;
    PyObject *result = host != NULL ? PyObject_CallFunctionObjArgs(miss, packet, host, NULL) : NULL;
    Py_XDECREF(packet);
    Py_XDECREF(host);
    if (result == NULL)
        goto failed;
    if (!PyTuple_Check(result) || PyTuple_GET_SIZE(result) != 2) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_TypeError, "the miss handler returns (reply, entry)");
        goto failed;
    }
    PyObject *reply = PyTuple_GET_ITEM(result, 0);
    PyObject *spec = PyTuple_GET_ITEM(result, 1);
    if (reply == Py_None) {
        Py_DECREF(result);
        return DROP;
    }
    if (!PyBytes_Check(reply) || PyBytes_GET_SIZE(reply) > 65535) {
        Py_DECREF(result);
        PyErr_SetString(PyExc_TypeError, "a reply is bytes of at most 65535");
        goto failed;
    }
    if (spec != Py_None && !e->pass_all && !denied && len >= 12 && len - 2 <= MAX_KEY &&
        !asks_send_time_options(query, len) && keep(e, spec, query, len, hash, sa) < 0) {
        if (strict) {
            Py_DECREF(result);
            return -1;
        }
        e->rejected++;
        PyErr_Clear();  /* the reply is still sent; only keeping it failed */
    }
    Py_INCREF(reply);
    Py_DECREF(result);
    *held = reply;
    return FROM_PYTHON;
failed:
    if (strict)
        return -1;
    e->failures++;
    PyErr_Clear();
    return DROP;
}

/* --- the socket loop ----------------------------------------------------------------- */

static inline uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void observe(Engine *e, uint64_t ns) {
    int b = 0;
    while (b < e->n_bounds && ns > e->bounds_ns[b])
        b++;
    e->latency[b]++;
    e->latency_sum_ns += ns;
}

static void send_all(Engine *e, int fd, unsigned int count) {
    unsigned int sent = 0;
    while (sent < count) {
        int n = sendmmsg(fd, e->smsgs + sent, count - sent, MSG_DONTWAIT);
        if (n > 0) {
            sent += (unsigned int)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            e->send_errors += count - sent;  /* the send queue is full: UDP may drop */
            return;
        }
        e->send_errors++;  /* this destination failed (unreachable, refused): skip it */
        sent++;
    }
}

static int enter(Engine *e) {
    if (e->busy) {
        PyErr_SetString(PyExc_RuntimeError, "the engine is answering: no re-entry");
        return -1;
    }
    e->busy = 1;
    return 0;
}

static PyObject *Engine_serve(Engine *e, PyObject *args) {
    int fd, budget;
    long long now = -1;
    PyObject *miss;
    if (!PyArg_ParseTuple(args, "iOi|L", &fd, &miss, &budget, &now) || enter(e) < 0)
        return NULL;
    e->now = now >= 0 ? (int64_t)now : (int64_t)time(NULL);
    long handled = 0;
    while (handled < budget) {
        unsigned int want = (unsigned int)e->batch;
        if ((long)want > budget - handled)
            want = (unsigned int)(budget - handled);
        for (unsigned int i = 0; i < want; i++) {
            e->riov[i].iov_base = e->recv_buf + (size_t)i * RECV_SIZE;
            e->riov[i].iov_len = RECV_SIZE;
            struct msghdr *h = &e->rmsgs[i].msg_hdr;
            memset(h, 0, sizeof *h);
            h->msg_name = &e->addrs[i];
            h->msg_namelen = sizeof(struct sockaddr_storage);
            h->msg_iov = &e->riov[i];
            h->msg_iovlen = 1;
        }
        int n = recvmmsg(fd, e->rmsgs, want, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                e->recv_errors++;
            break;
        }
        uint64_t started = now_ns();
        unsigned int out = 0;
        for (int i = 0; i < n; i++) {
            const struct msghdr *h = &e->rmsgs[i].msg_hdr;
            const struct sockaddr *sa = (const struct sockaddr *)&e->addrs[i];
            if ((h->msg_flags & MSG_TRUNC) || h->msg_namelen > sizeof(struct sockaddr_storage) ||
                (sa->sa_family != AF_INET && sa->sa_family != AF_INET6))
                continue;
            unsigned char *slot = e->send_buf + (size_t)out * SEND_SIZE;
            size_t length = 0;
            PyObject *held = NULL;
            int r = handle(e, e->recv_buf + (size_t)i * RECV_SIZE, e->rmsgs[i].msg_len, sa, miss,
                           slot, &length, &held, 0);
            if (r == DROP)
                continue;
            e->held[out] = held;
            if (r == FROM_PYTHON) {
                e->siov[out].iov_base = PyBytes_AS_STRING(held);
                e->siov[out].iov_len = (size_t)PyBytes_GET_SIZE(held);
            } else {
                e->siov[out].iov_base = slot;
                e->siov[out].iov_len = length;
            }
            struct msghdr *s = &e->smsgs[out].msg_hdr;
            memset(s, 0, sizeof *s);
            s->msg_name = &e->addrs[i];
            s->msg_namelen = h->msg_namelen;
            s->msg_iov = &e->siov[out];
            s->msg_iovlen = 1;
            out++;
        }
        send_all(e, fd, out);
        for (unsigned int i = 0; i < out; i++)
            Py_CLEAR(e->held[i]);
        uint64_t spent = now_ns() - started;
        for (int i = 0; i < n; i++)
            if (--e->sample_countdown == 0) {
                e->sample_countdown = LATENCY_EVERY;
                observe(e, spent);
            }
        handled += n;
        if ((unsigned int)n < want)
            break;  /* drained */
    }
    e->busy = 0;
    return PyLong_FromLong(handled);
}

static int sockaddr_of(const char *host, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *in = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        return 0;
    }
    if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "%s is not an IP address", host);
    return -1;
}

/* One query through the same lookup, rendering and miss path as serve(), without a
 * socket: for the tests and the fuzzer. */
static PyObject *Engine_answer(Engine *e, PyObject *args) {
    Py_buffer query;
    const char *host;
    PyObject *miss;
    long long now = -1;
    if (!PyArg_ParseTuple(args, "y*sO|L", &query, &host, &miss, &now))
        return NULL;
    e->now = now >= 0 ? (int64_t)now : (int64_t)time(NULL);
    struct sockaddr_storage ss;
    if (sockaddr_of(host, &ss) < 0 || enter(e) < 0) {
        PyBuffer_Release(&query);
        return NULL;
    }
    size_t length = 0;
    PyObject *held = NULL;
    int r = handle(e, query.buf, (size_t)query.len, (struct sockaddr *)&ss, miss, e->send_buf,
                   &length, &held, 1);
    e->busy = 0;
    PyBuffer_Release(&query);
    if (r < 0)
        return NULL;
    if (r == DROP)
        Py_RETURN_NONE;
    if (r == FROM_PYTHON)
        return held;
    return PyBytes_FromStringAndSize((const char *)e->send_buf, (Py_ssize_t)length);
}

static PyObject *Engine_reset(Engine *e, PyObject *Py_UNUSED(ignored)) {
    if (enter(e) < 0)
        return NULL;
    int failed = engine_reset_table(e) < 0;
    e->busy = 0;
    if (failed)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Engine_set_access(Engine *e, PyObject *args) {
    PyObject *allow, *deny;
    int drop;
    if (!PyArg_ParseTuple(args, "OOp", &allow, &deny, &drop))
        return NULL;
    Access *fresh = NULL;
    if (allow != Py_None || deny != Py_None) {
        fresh = access_new(allow, deny, drop);
        if (fresh == NULL)
            return NULL;
    }
    Access *old = e->access;
    e->access = fresh; /* the swap: every later packet sees the new lists, none a mix */
    access_free(old);
    Py_RETURN_NONE;
}

static PyObject *counts_tuple(const uint64_t *values, size_t n);

static PyObject *Engine_set_rrl(Engine *e, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"rates", "window", "slip", "ipv4_prefix", "ipv6_prefix", "exempt",
                             "log_only", "max_entries", "all_key", "error_key", NULL};
    PyObject *rates_object, *exempt;
    long long window;
    int slip, prefix4, prefix6, log_only;
    long max_entries;
    unsigned long long all_key, error_key;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OLiiiOplKK", kwlist, &rates_object, &window,
                                     &slip, &prefix4, &prefix6, &exempt, &log_only, &max_entries,
                                     &all_key, &error_key))
        return NULL;
    Rrl *fresh = NULL;
    if (rates_object != Py_None) {
        if (!PyTuple_Check(rates_object) || PyTuple_GET_SIZE(rates_object) != RRL_CATEGORIES) {
            PyErr_Format(PyExc_TypeError, "rates: a tuple of %d", RRL_CATEGORIES);
            return NULL;
        }
        int64_t rates[RRL_CATEGORIES];
        for (int c = 0; c < RRL_CATEGORIES; c++) {
            rates[c] = PyLong_AsLongLong(PyTuple_GET_ITEM(rates_object, c));
            if (rates[c] == -1 && PyErr_Occurred())
                return NULL;
        }
        fresh = rrl_new(rates, window, slip, prefix4, prefix6, exempt, log_only, max_entries,
                        all_key, error_key, mix64(e->hash_seed ^ 0x5252));
        if (fresh == NULL)
            return NULL;
    }
    Rrl *old = e->rrl;
    e->rrl = fresh;
    rrl_free(old);
    Py_RETURN_NONE;
}

/* One response's verdict, for the Python path's replies on this plane (one table for both). */
static PyObject *Engine_rrl_check(Engine *e, PyObject *args) {
    const char *host;
    unsigned long long key;
    int category;
    long long now;
    if (!PyArg_ParseTuple(args, "sKiL", &host, &key, &category, &now))
        return NULL;
    if (e->rrl == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "rrl is off in this engine");
        return NULL;
    }
    struct sockaddr_storage ss;
    Source source;
    if (sockaddr_of(host, &ss) < 0)
        return NULL;
    if (source_of((struct sockaddr *)&ss, &source) < 0 || category < 0 || category >= RRL_ALL) {
        PyErr_SetString(PyExc_ValueError, "a source address and a category from 0 to 4");
        return NULL;
    }
    return PyLong_FromLong(rrl_check(e->rrl, &source, key, category, (int64_t)now));
}

/* The start/stop lines queued since the last call: (what, family, block, prefix, key). */
static PyObject *Engine_rrl_events(Engine *e, PyObject *Py_UNUSED(ignored)) {
    PyObject *list = PyList_New(0);
    if (list == NULL || e->rrl == NULL)
        return list;
    Rrl *r = e->rrl;
    for (uint32_t i = 0; i < r->n_events; i++) {
        const RrlEvent *ev = &r->events[i];
        unsigned char block[16];
        for (int b = 0; b < 16; b++)
            block[b] = (unsigned char)(ev->block >> (8 * (15 - b)));
        PyObject *item = Py_BuildValue("(iiy#iK)", ev->what, ev->family, block, (Py_ssize_t)16,
                                       ev->prefix, (unsigned long long)ev->key);
        if (item == NULL || PyList_Append(list, item) < 0) {
            Py_XDECREF(item);
            Py_DECREF(list);
            return NULL;
        }
        Py_DECREF(item);
    }
    r->n_events = 0;
    return list;
}

static PyObject *Engine_rrl_counters(Engine *e, PyObject *Py_UNUSED(ignored)) {
    if (e->rrl == NULL)
        Py_RETURN_NONE;
    Rrl *r = e->rrl;
    PyObject *dropped = counts_tuple(r->dropped, RRL_CATEGORIES);
    PyObject *slipped = dropped ? counts_tuple(r->slipped, RRL_CATEGORIES) : NULL;
    if (slipped == NULL) {
        Py_XDECREF(dropped);
        return NULL;
    }
    return Py_BuildValue("{s:N,s:N,s:I,s:K}", "dropped", dropped, "slipped", slipped, "size",
                         r->used, "events_lost", r->events_lost);
}

static PyObject *counts_tuple(const uint64_t *values, size_t n) {
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    if (t == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(values[i]);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, (Py_ssize_t)i, v);
    }
    return t;
}

static PyObject *Engine_counters(Engine *e, PyObject *Py_UNUSED(ignored)) {
    PyObject *slots = counts_tuple(e->slot_hits, e->n_slots);
    PyObject *members = slots ? counts_tuple(e->member_hits, e->n_member_slots) : NULL;
    PyObject *latency = members ? counts_tuple(e->latency, (size_t)e->n_bounds + 1) : NULL;
    PyObject *refused = latency ? counts_tuple(e->refused_qtype, REFUSED_QTYPES + 1) : NULL;
    if (refused == NULL) {
        Py_XDECREF(slots);
        Py_XDECREF(members);
        Py_XDECREF(latency);
        return NULL;
    }
    return Py_BuildValue(
        "{s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:K,s:n,s:n,s:N,s:N,s:N,s:K,s:K,s:K,s:N}",
        "hits", e->hits,
        "misses", e->misses, "dropped_short", e->dropped_short, "dropped_response",
        e->dropped_response, "send_errors", e->send_errors, "recv_errors", e->recv_errors,
        "failures", e->failures, "rejected", e->rejected, "resets", e->resets, "evictions",
        e->evictions, "entries", (Py_ssize_t)e->table->used, "bytes", (Py_ssize_t)e->bytes,
        "slot_hits", slots, "member_hits", members, "latency", latency, "latency_sum_ns",
        e->latency_sum_ns, "denied_refused", e->denied_refused, "denied_dropped",
        e->denied_dropped, "refused_by_qtype", refused);
}

/* --- the type ------------------------------------------------------------------------ */

static void Engine_dealloc(Engine *e) {
    if (e->table != NULL)
        table_free(e, e->table);
    access_free(e->access);
    rrl_free(e->rrl);
    PyMem_Free(e->rotations);
    PyMem_Free(e->slot_hits);
    PyMem_Free(e->member_hits);
    PyMem_Free(e->recv_buf);
    PyMem_Free(e->send_buf);
    PyMem_Free(e->rmsgs);
    PyMem_Free(e->smsgs);
    PyMem_Free(e->riov);
    PyMem_Free(e->siov);
    PyMem_Free(e->addrs);
    if (e->held != NULL)
        for (int i = 0; i < e->batch; i++)
            Py_CLEAR(e->held[i]);
    PyMem_Free(e->held);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

static int Engine_init(Engine *e, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"seed", "latency_bounds_ns", "batch", "max_entries", "max_bytes",
                             "pass_all", NULL};
    Py_buffer seed;
    PyObject *bounds;
    int batch = 64, pass_all = 0;
    Py_ssize_t max_entries = 1 << 17, max_bytes = 64 << 20;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*O|innp", kwlist, &seed, &bounds, &batch,
                                     &max_entries, &max_bytes, &pass_all))
        return -1;
    if (e->table != NULL) {
        PyBuffer_Release(&seed);
        PyErr_SetString(PyExc_RuntimeError, "an Engine is initialised once");
        return -1;
    }
    if (seed.len < 16) {
        PyBuffer_Release(&seed);
        PyErr_SetString(PyExc_ValueError, "seed: at least 16 random bytes");
        return -1;
    }
    memcpy(&e->hash_seed, seed.buf, 8);
    memcpy(&e->rng, (const char *)seed.buf + 8, 8);
    PyBuffer_Release(&seed);
    if (!PyTuple_Check(bounds) || PyTuple_GET_SIZE(bounds) > MAX_BUCKETS) {
        PyErr_Format(PyExc_ValueError, "latency_bounds_ns: a tuple of at most %d", MAX_BUCKETS);
        return -1;
    }
    e->n_bounds = (int)PyTuple_GET_SIZE(bounds);
    for (int i = 0; i < e->n_bounds; i++) {
        e->bounds_ns[i] = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(bounds, i));
        if (PyErr_Occurred())
            return -1;
    }
    if (batch < 1 || batch > BATCH_MAX) {
        PyErr_Format(PyExc_ValueError, "batch is from 1 to %d", BATCH_MAX);
        return -1;
    }
    if (max_entries < TOP_INITIAL || max_bytes < (1 << 20)) {
        PyErr_SetString(PyExc_ValueError, "max_entries >= 1024 and max_bytes >= 1 MiB");
        return -1;
    }
    size_t capacity = TOP_INITIAL;
    while (capacity < (size_t)max_entries)
        capacity *= 2;
    e->max_capacity = capacity;
    e->max_bytes = (size_t)max_bytes;
    e->batch = batch;
    e->pass_all = pass_all;
    e->sample_countdown = LATENCY_EVERY;
    e->recv_buf = PyMem_Malloc((size_t)batch * RECV_SIZE);
    e->send_buf = PyMem_Malloc((size_t)batch * SEND_SIZE);
    e->rmsgs = PyMem_Calloc((size_t)batch, sizeof(struct mmsghdr));
    e->smsgs = PyMem_Calloc((size_t)batch, sizeof(struct mmsghdr));
    e->riov = PyMem_Calloc((size_t)batch, sizeof(struct iovec));
    e->siov = PyMem_Calloc((size_t)batch, sizeof(struct iovec));
    e->addrs = PyMem_Calloc((size_t)batch, sizeof(struct sockaddr_storage));
    e->held = PyMem_Calloc((size_t)batch, sizeof(PyObject *));
    if (!e->recv_buf || !e->send_buf || !e->rmsgs || !e->smsgs || !e->riov || !e->siov ||
        !e->addrs || !e->held) {
        PyErr_NoMemory();
        return -1;
    }
    if (grow_counts(&e->slot_hits, &e->n_slots, 1) < 0)
        return -1;
    return engine_reset_table(e);
}

static PyMethodDef Engine_methods[] = {
    {"serve", (PyCFunction)Engine_serve, METH_VARARGS,
     "serve(fd, miss, budget) -> packets: drain fd, a batch at a time, up to budget packets"},
    {"answer", (PyCFunction)Engine_answer, METH_VARARGS,
     "answer(query, host, miss) -> reply or None: one query, without a socket"},
    {"reset", (PyCFunction)Engine_reset, METH_NOARGS,
     "reset(): an empty table, for a new snapshot"},
    {"counters", (PyCFunction)Engine_counters, METH_NOARGS, "counters() -> dict"},
    {"set_access", (PyCFunction)Engine_set_access, METH_VARARGS,
     "set_access(allow, deny, drop): the access lists as packed ranges (None, None: off)"},
    {"set_rrl", (PyCFunction)(void (*)(void))Engine_set_rrl, METH_VARARGS | METH_KEYWORDS,
     "set_rrl(rates, window, slip, ipv4_prefix, ipv6_prefix, exempt, log_only, max_entries, "
     "all_key, error_key): a fresh bucket table (rates None: off)"},
    {"rrl_check", (PyCFunction)Engine_rrl_check, METH_VARARGS,
     "rrl_check(host, key, category, now) -> 0 send, 1 drop, 2 slip"},
    {"rrl_events", (PyCFunction)Engine_rrl_events, METH_NOARGS,
     "rrl_events() -> [(what, family, block, prefix, key)]: start (0) / stop (1) lines due"},
    {"rrl_counters", (PyCFunction)Engine_rrl_counters, METH_NOARGS,
     "rrl_counters() -> {dropped, slipped, size, events_lost} or None when off"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "geodns.answer._native.Engine",
    .tp_basicsize = sizeof(Engine),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Engine(seed, latency_bounds_ns, batch=64, max_entries=131072, "
              "max_bytes=64 MiB, pass_all=False): a reply table and the UDP loop over it",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Engine_init,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
};

static struct PyModuleDef native_module = {
    PyModuleDef_HEAD_INIT, "geodns.answer._native",
    "geodns's UDP data plane: recvmmsg/sendmmsg over the replies Python compiled.", -1, NULL,
};

PyMODINIT_FUNC PyInit__native(void) {
    if (PyType_Ready(&EngineType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&native_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&EngineType);
    if (PyModule_AddObject(m, "Engine", (PyObject *)&EngineType) < 0 ||
        PyModule_AddIntConstant(m, "FIXED", E_FIXED) < 0 ||
        PyModule_AddIntConstant(m, "DRAWN", E_DRAWN) < 0 ||
        PyModule_AddIntConstant(m, "DRAW_WEIGHTED", DRAW_WEIGHTED) < 0 ||
        PyModule_AddIntConstant(m, "DRAW_ROTATE", DRAW_ROTATE) < 0 ||
        PyModule_AddIntConstant(m, "MAX_MEMBERS", MAX_MEMBERS) < 0 ||
        PyModule_AddIntConstant(m, "SIGNED_MAX_MEMBERS", SIGNED_MAX_MEMBERS) < 0 ||
        PyModule_AddIntConstant(m, "MAX_KEY", MAX_KEY) < 0 ||
        PyModule_AddIntConstant(m, "SEND_SIZE", SEND_SIZE) < 0 ||
        PyModule_AddIntConstant(m, "REFUSED_QTYPES", REFUSED_QTYPES) < 0) {
        Py_DECREF(&EngineType);
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
