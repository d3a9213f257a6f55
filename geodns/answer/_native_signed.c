/* _native_signed: a signed pool draw's RRSIGs by drawn set (see _native_signed.h). */
#include "_native_signed.h"

#include <string.h>

SignedSets *signed_sets_from_spec(PyObject *spec, uint32_t members, size_t room, size_t *size) {
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) != 3) {
        PyErr_SetString(PyExc_TypeError, "signed sets are (masks, records, record_len)");
        return NULL;
    }
    PyObject *masks = PyTuple_GET_ITEM(spec, 0);
    PyObject *records = PyTuple_GET_ITEM(spec, 1);
    if (!PyTuple_Check(masks) || !PyBytes_Check(records)) {
        PyErr_SetString(PyExc_TypeError, "signed sets: masks a tuple, records bytes");
        return NULL;
    }
    if (members < 1 || members > SIGNED_MAX_MEMBERS) {
        PyErr_Format(PyExc_ValueError, "a signed draw over %u members is not kept", members);
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(masks);
    long record_len = PyLong_AsLong(PyTuple_GET_ITEM(spec, 2));
    if (record_len == -1 && PyErr_Occurred())
        return NULL;
    if (n > SIGNED_MAX_SETS || record_len < 1 || (size_t)record_len > room) {
        PyErr_SetString(PyExc_ValueError, "signed sets of this number or size cannot be kept");
        return NULL;
    }
    if (PyBytes_GET_SIZE(records) != n * (Py_ssize_t)record_len) {
        PyErr_SetString(PyExc_ValueError, "one record_len of RRSIG records per signed set");
        return NULL;
    }
    /* every mask names positions of this draw only */
    const uint64_t valid = members == 64 ? UINT64_MAX : (1ULL << members) - 1;
    size_t bytes = sizeof(SignedSets) + (size_t)n * sizeof(uint64_t) + (size_t)n * (size_t)record_len;
    SignedSets *s = PyMem_Calloc(1, bytes);
    if (s == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    uint64_t *out = s->blob;
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned long long v = PyLong_AsUnsignedLongLong(PyTuple_GET_ITEM(masks, i));
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            PyMem_Free(s);
            return NULL;
        }
        if (v == 0 || (v & ~valid) != 0 || (i > 0 && v <= out[i - 1])) {
            PyErr_SetString(PyExc_ValueError,
                            "signed set masks: non-empty, within the draw, strictly ascending");
            PyMem_Free(s);
            return NULL;
        }
        out[i] = (uint64_t)v;
    }
    unsigned char *p = (unsigned char *)(out + n);
    memcpy(p, PyBytes_AS_STRING(records), (size_t)n * (size_t)record_len);
    s->n = (uint32_t)n;
    s->record_len = (uint32_t)record_len;
    s->masks = out;
    s->records = p;
    *size = bytes;
    return s;
}

const unsigned char *signed_sets_find(const SignedSets *s, uint64_t mask) {
    uint32_t low = 0, high = s->n;  /* binary search over [low, high) */
    while (low < high) {
        uint32_t mid = low + (high - low) / 2;
        uint64_t m = s->masks[mid];
        if (m == mask)
            return s->records + (size_t)mid * s->record_len;
        if (m < mask)
            low = mid + 1;
        else
            high = mid;
    }
    return NULL;
}

void signed_sets_free(SignedSets *s) { PyMem_Free(s); }
