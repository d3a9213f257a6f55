/* _native_signed: the RRSIGs of a signed pool's drawn sets, for the C loop (_native.c).
 *
 * A signed draw's answer is the drawn records followed by the RRSIG records of exactly
 * that member set. Python signs each set once (geodns/dnssec/signed.py, PoolSignatures)
 * and hands the engine, with the entry, the sets signed so far: their masks over the
 * draw's member positions, ascending, and their RRSIG records (owner included, all of one
 * length) in one bytes object in the same order. After its draw C looks the drawn set up
 * here and appends its records; a set not signed yet is a miss, which Python answers,
 * signs and publishes again. Nothing here parses DNS; every length is checked once, when
 * the sets are kept.
 */
#ifndef GEODNS_NATIVE_SIGNED_H
#define GEODNS_NATIVE_SIGNED_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stddef.h>
#include <stdint.h>

#define SIGNED_MAX_MEMBERS 64  /* a drawn set is a 64-bit mask of draw positions */
#define SIGNED_MAX_SETS 4096   /* as PoolSignatures keeps at most (MAX_DRAWN_SETS) */

typedef struct SignedSets {
    uint32_t n;                    /* sets */
    uint32_t record_len;           /* octets of one set's RRSIG records */
    const uint64_t *masks;         /* n masks, strictly ascending */
    const unsigned char *records;  /* n * record_len octets, in the masks' order */
    uint64_t blob[];
} SignedSets;

/* From the spec's (masks, records, record_len) for a draw over members positions, whose
 * RRSIG records may take at most room octets of a reply. NULL with an exception set when
 * the description is not one to keep; *size: the bytes allocated. */
SignedSets *signed_sets_from_spec(PyObject *spec, uint32_t members, size_t room, size_t *size);

/* The RRSIG records of the drawn set mask, or NULL when that set is not signed yet. */
const unsigned char *signed_sets_find(const SignedSets *s, uint64_t mask);

void signed_sets_free(SignedSets *s);

#endif
