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

#endif
