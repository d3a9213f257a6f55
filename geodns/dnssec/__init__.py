"""DNSSEC signing for online answers: keys, canonical form, RRSIG, NSEC, DS, a signature cache.

Data plane: pure, synchronous, no I/O and no store. The control plane (geodns.zone_keys)
keeps the keys in the database and hands this package the decrypted ones.
"""
