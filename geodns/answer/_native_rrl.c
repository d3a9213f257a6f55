/* Response rate limiting for the native data plane: geodns/answer/rrl.py's rules, in C.
 *
 * One bucket per (client block, response key id): the block is the source address cut to
 * rrl_ipv4_prefix / rrl_ipv6_prefix, the key id is what Python computed for the reply when
 * it published the entry (rrl.py response_key, hashed), so C never looks at names. The
 * table is fixed-size: rrl_max_entries buckets allocated once, an index of twice as many
 * slots (linear probing, backward-shift deletion), and a least-recently-used list through
 * the buckets; when full, the least recently used bucket is taken over. A check allocates
 * nothing. The start/stop lines are queued (a bounded ring) for Python to log.
 */
#include "_native_defences.h"

#include <string.h>

#define NIL UINT32_MAX
#define LOG_EVERY_S 60     /* rrl.py LOG_EVERY_S */
#define LOG_LINES_PER_S 20 /* rrl.py LOG_LINES_PER_S */
#define MAX_BUCKETS_RRL (1u << 24)

static inline uint64_t rrl_mix(uint64_t x) {
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static inline uint64_t bucket_hash(const Rrl *r, int family, u128 block, uint64_t key) {
    uint64_t h = rrl_mix(r->seed ^ (uint64_t)block ^ ((uint64_t)family << 56));
    h = rrl_mix(h ^ (uint64_t)(block >> 64));
    return rrl_mix(h ^ key);
}

Rrl *rrl_new(const int64_t rates[RRL_CATEGORIES], int64_t window, int slip, int prefix4,
             int prefix6, PyObject *exempt, int log_only, long max_entries, uint64_t all_key,
             uint64_t error_key, uint64_t seed) {
    if (window < 1 || slip < 0 || prefix4 < 0 || prefix4 > 32 || prefix6 < 0 || prefix6 > 128 ||
        max_entries < 1 || max_entries > (long)MAX_BUCKETS_RRL) {
        PyErr_Format(PyExc_ValueError,
                     "rrl: window >= 1, slip >= 0, prefixes within the address, "
                     "1 <= max_entries <= %u",
                     MAX_BUCKETS_RRL);
        return NULL;
    }
    for (int c = 0; c < RRL_CATEGORIES; c++)
        if (rates[c] < 0 || rates[c] > (1 << 30)) {
            PyErr_SetString(PyExc_ValueError, "rrl: rates are from 0 to 2**30");
            return NULL;
        }
    Rrl *r = PyMem_Calloc(1, sizeof(Rrl));
    if (r == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    if (netset_from_bytes(exempt, "exempt", &r->exempt) < 0) {
        PyMem_Free(r);
        return NULL;
    }
    size_t capacity = 16;
    while (capacity < 2 * (size_t)max_entries)
        capacity *= 2;
    r->buckets = PyMem_Calloc((size_t)max_entries, sizeof(Bucket));
    r->index = PyMem_Calloc(capacity, sizeof(uint32_t));
    if (r->buckets == NULL || r->index == NULL) {
        rrl_free(r);
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(r->rates, rates, sizeof r->rates);
    r->window = window;
    r->slip = slip;
    r->prefix[0] = prefix4;
    r->prefix[1] = prefix6;
    r->log_only = log_only;
    r->max = (uint32_t)max_entries;
    r->mask = capacity - 1;
    r->head = r->tail = r->limited_head = r->limited_tail = NIL;
    r->all_key = all_key;
    r->error_key = error_key;
    r->seed = seed;
    r->swept_at = r->lines_at = -1;
    return r;
}

void rrl_free(Rrl *r) {
    if (r == NULL)
        return;
    netset_clear(&r->exempt);
    PyMem_Free(r->buckets);
    PyMem_Free(r->index);
    PyMem_Free(r);
}

/* --- the least-recently-used list ------------------------------------------------- */

static void lru_unlink(Rrl *r, uint32_t i) {
    Bucket *b = &r->buckets[i];
    if (b->prev != NIL)
        r->buckets[b->prev].next = b->next;
    else
        r->head = b->next;
    if (b->next != NIL)
        r->buckets[b->next].prev = b->prev;
    else
        r->tail = b->prev;
    b->prev = b->next = NIL;
}

static void lru_append(Rrl *r, uint32_t i) { /* the most recently used end */
    Bucket *b = &r->buckets[i];
    b->prev = r->tail;
    b->next = NIL;
    if (r->tail != NIL)
        r->buckets[r->tail].next = i;
    else
        r->head = i;
    r->tail = i;
}

/* The list of buckets being limited, in the order they started (rrl.py's _limited dict):
 * the sweep goes through it in that order, so that when more lines are due in a second
 * than are written, the same ones are. */
static void limited_unlink(Rrl *r, uint32_t i) {
    Bucket *b = &r->buckets[i];
    if (b->lprev != NIL)
        r->buckets[b->lprev].lnext = b->lnext;
    else
        r->limited_head = b->lnext;
    if (b->lnext != NIL)
        r->buckets[b->lnext].lprev = b->lprev;
    else
        r->limited_tail = b->lprev;
    b->lprev = b->lnext = NIL;
}

static void limited_append(Rrl *r, uint32_t i) {
    Bucket *b = &r->buckets[i];
    b->lprev = r->limited_tail;
    b->lnext = NIL;
    if (r->limited_tail != NIL)
        r->buckets[r->limited_tail].lnext = i;
    else
        r->limited_head = i;
    r->limited_tail = i;
}

/* --- the index -------------------------------------------------------------------- */

static uint32_t *index_find(Rrl *r, uint64_t hash, int family, u128 block, uint64_t key) {
    for (size_t at = hash & r->mask;; at = (at + 1) & r->mask) {
        uint32_t *slot = &r->index[at];
        if (*slot == 0)
            return slot; /* free: where it would go */
        const Bucket *b = &r->buckets[*slot - 1];
        if (b->hash == hash && b->key == key && b->block == block && b->family == family)
            return slot;
    } /* never full: twice as many slots as buckets */
}

static void index_remove(Rrl *r, uint32_t i) {
    size_t hole = r->buckets[i].hash & r->mask;
    while (r->index[hole] != i + 1)
        hole = (hole + 1) & r->mask;
    for (size_t at = (hole + 1) & r->mask; r->index[at] != 0; at = (at + 1) & r->mask) {
        size_t home = r->buckets[r->index[at] - 1].hash & r->mask;
        /* move it back into the hole unless its home lies after the hole (cyclically) */
        int stays = hole <= at ? (home > hole && home <= at) : (home > hole || home <= at);
        if (!stays) {
            r->index[hole] = r->index[at];
            hole = at;
        }
    }
    r->index[hole] = 0;
}

/* --- the log lines ---------------------------------------------------------------- */

static void rrl_log(Rrl *r, Bucket *b, int64_t now, int what) {
    if (what == RRL_STARTED && now - b->logged_at < LOG_EVERY_S)
        return; /* limited again within the minute: the last line still holds */
    if (now != r->lines_at) {
        r->lines_at = now;
        r->lines = 0;
    }
    if (++r->lines > LOG_LINES_PER_S)
        return;
    b->logged_at = now;
    if (r->n_events >= RRL_EVENTS) {
        r->events_lost++;
        return;
    }
    RrlEvent *ev = &r->events[r->n_events++];
    ev->what = (uint8_t)what;
    ev->family = b->family;
    ev->prefix = (uint8_t)r->prefix[b->family == 6];
    ev->block = b->block;
    ev->key = b->key;
}

static void rrl_sweep(Rrl *r, int64_t now) {
    r->swept_at = now;
    uint32_t i = r->limited_head;
    while (i != NIL) {
        Bucket *b = &r->buckets[i];
        uint32_t next = b->lnext;
        if (now - b->limited_at > r->window && now - b->logged_at >= LOG_EVERY_S) {
            limited_unlink(r, i);
            b->limited_at = -1;
            rrl_log(r, b, now, RRL_STOPPED);
        }
        i = next;
    }
}

/* --- the buckets ------------------------------------------------------------------ */

static int debit(Rrl *r, int family, u128 block, uint64_t key, int category, int64_t rate,
                 int64_t now) {
    uint64_t hash = bucket_hash(r, family, block, key);
    uint32_t *slot = index_find(r, hash, family, block, key);
    Bucket *b;
    if (*slot == 0) {
        uint32_t i;
        if (r->used < r->max) {
            i = r->used++;
        } else { /* full: the least recently used bucket goes */
            i = r->head;
            if (r->buckets[i].limited_at >= 0)
                limited_unlink(r, i);
            lru_unlink(r, i);
            index_remove(r, i);
            slot = index_find(r, hash, family, block, key); /* the removal moved slots */
        }
        b = &r->buckets[i];
        memset(b, 0, sizeof *b);
        b->hash = hash;
        b->key = key;
        b->block = block;
        b->family = (uint8_t)family;
        b->balance = rate;
        b->stamp = now;
        b->limited_at = -1;
        b->logged_at = -LOG_EVERY_S;
        b->lprev = b->lnext = NIL;
        *slot = i + 1;
        lru_append(r, i);
    } else {
        uint32_t i = *slot - 1;
        b = &r->buckets[i];
        lru_unlink(r, i);
        lru_append(r, i);
        int64_t age = now - b->stamp;
        if (age > 0) { /* a clock stepped back counts as no time */
            b->stamp = now;
            if (age > r->window) {
                b->balance = rate;
                b->slips = 0;
            } else {
                int64_t balance = b->balance + rate * age;
                if (balance >= rate) {
                    balance = rate;
                    b->slips = 0;
                }
                b->balance = balance;
            }
        }
    }
    b->balance -= 1;
    if (b->balance >= 0)
        return RRL_SEND;
    int64_t floor = -r->window * rate;
    if (b->balance < floor)
        b->balance = floor;
    if (b->limited_at < 0) {
        limited_append(r, (uint32_t)(b - r->buckets));
        rrl_log(r, b, now, RRL_STARTED);
    }
    b->limited_at = now;
    if (r->slip == 0 || category >= RRL_ERROR) /* errors and all_per_second never slip */
        return RRL_DROP;
    uint32_t slips = b->slips; /* the first limited response of a run slips, then every slip-th */
    b->slips = (slips + 1) % (uint32_t)r->slip;
    return slips == 0 ? RRL_SLIP : RRL_DROP;
}

int rrl_check(Rrl *r, const Source *s, uint64_t key, int category, int64_t now) {
    if (category < 0 || category >= RRL_ALL)
        category = RRL_ERROR; /* never from Python; an unknown key counts as an error */
    if (netset_covers(&r->exempt, s))
        return RRL_SEND;
    int f = s->family == 6, bits = f ? 128 : 32, prefix = r->prefix[f];
    u128 block = prefix == 0 ? 0 : (s->address >> (bits - prefix)) << (bits - prefix);
    if (now != r->swept_at)
        rrl_sweep(r, now);
    int verdict = RRL_SEND;
    int64_t rate = r->rates[category];
    if (rate)
        verdict = debit(r, s->family, block, key, category, rate, now);
    int64_t all_rate = r->rates[RRL_ALL];
    if (all_rate && debit(r, s->family, block, r->all_key, RRL_ALL, all_rate, now) != RRL_SEND) {
        verdict = RRL_DROP; /* all_per_second never slips */
        category = RRL_ALL;
    }
    if (verdict == RRL_SEND)
        return RRL_SEND;
    if (verdict == RRL_DROP)
        r->dropped[category]++;
    else
        r->slipped[category]++;
    return r->log_only ? RRL_SEND : verdict;
}
