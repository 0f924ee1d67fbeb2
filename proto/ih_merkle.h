/*  =========================================================================
    ih_merkle - the hub log's Merkle tree (RFC 6962 / RFC 9162, SHA-256)

    The hub keeps a Merkle tree over its log so that anyone holding a signed
    checkpoint (ih_checkpoint) can check, offline, that a given stored
    record is in the log (inclusion proof) and that a later log extends an
    earlier one without rewriting it (consistency proof).

    Hashing (docs/protocol.md, "Merkle tree and checkpoints"):
        leaf i   = the stored record of hub_seq i + 1, exactly the bytes
                   ih_record_encode made (version || received || event)
        leaf hash = SHA-256 (0x00 || record)
        node hash = SHA-256 (0x01 || left || right)
        root of the empty tree = SHA-256 of the empty string
    The tree of size n is RFC 6962's MTH over leaves 0 .. n-1.

    Storage model. This module has no storage of its own: the hub keeps the
    hash of every *complete* (perfect) subtree and lends them through an
    ih_merkle_get_fn. (level, index) names the perfect subtree covering
    leaves [index << level, (index + 1) << level); level 0 is a leaf hash.
    A complete subtree never changes as the log grows, so one store serves
    every tree size: a root, a proof or an old root is built from O(log n)
    of these. ih_merkle_append tells the store which ones an append
    completes. Verification needs no store at all.

    Proof formats (RFC 6962 section 2.1.1/2.1.2): a path or proof is a
    sequence of 32-byte hashes, concatenated, in the order RFC 6962 PATH
    and PROOF produce them (bottom up).
    =========================================================================*/
#ifndef IH_MERKLE_H_INCLUDED
#define IH_MERKLE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ih_err.h"

#define IH_MERKLE_HASH_SIZE 32
//  Longest inclusion path (tree sizes are below 2^64), and longest
//  consistency proof, in hashes.
#define IH_MERKLE_PATH_MAX 64
#define IH_MERKLE_PROOF_MAX 65

//  Store callback: writes into hash_out the 32-byte hash of the perfect
//  subtree at (level, index), which the store must hold for every complete
//  subtree. Returns 0, or -1 if it cannot (missing, storage error: it logs
//  why); the caller then fails with IH_E_STORE.
typedef int (ih_merkle_get_fn) (uint64_t level, uint64_t index,
                                uint8_t *hash_out, void *arg);
//  Store callback: keeps hash as the perfect subtree (level, index).
//  Returns 0, or -1 on a storage error.
typedef int (ih_merkle_put_fn) (uint64_t level, uint64_t index,
                                const uint8_t *hash, void *arg);

//  SHA-256 (0x00 || record) into out (32 bytes). record may be NULL if
//  size is 0.
void ih_merkle_leaf_hash (const uint8_t *record, size_t size, uint8_t *out);

//  SHA-256 (0x01 || left || right) into out (32 bytes); out may alias
//  left or right.
void ih_merkle_node_hash (const uint8_t *left, const uint8_t *right,
                          uint8_t *out);

//  Records that leaf index (the log had index leaves before) has
//  leaf_hash: puts (0, index), then, while the subtree just completed is a
//  right child, gets its left sibling and puts their parent, so the store
//  again holds every complete subtree of the tree of size index + 1.
//  O(log n) calls. Call it in the same transaction that stores the record.
//  Errors: IH_E_STORE (get or put failed; the transaction must be
//  aborted).
ih_err_t ih_merkle_append (uint64_t index, const uint8_t *leaf_hash,
                           ih_merkle_get_fn *get, void *get_arg,
                           ih_merkle_put_fn *put, void *put_arg);

//  Root of the tree of size size (any size the store has grown to, so old
//  roots too) into out (32 bytes). O(log n) gets. Errors: IH_E_STORE.
ih_err_t ih_merkle_root (uint64_t size, ih_merkle_get_fn *get, void *arg,
                         uint8_t *out);

//  RFC 6962 PATH (index, D[size]): the inclusion proof of leaf index in
//  the tree of size size, as *len_p hashes in a malloc'ed buffer *path_p
//  (*len_p * 32 bytes; NULL when *len_p is 0, i.e. size 1). The caller
//  frees. Errors: IH_E_BADARG (index >= size), IH_E_STORE.
ih_err_t ih_merkle_inclusion_proof (uint64_t index, uint64_t size,
                                    ih_merkle_get_fn *get, void *arg,
                                    uint8_t **path_p, size_t *len_p);

//  RFC 6962 PROOF (old_size, D[new_size]): the consistency proof between
//  the trees of size old_size and new_size, as for inclusion. Empty when
//  old_size is 0 or equals new_size (nothing to prove beyond the roots).
//  Errors: IH_E_BADARG (old_size > new_size), IH_E_STORE.
ih_err_t ih_merkle_consistency_proof (uint64_t old_size, uint64_t new_size,
                                      ih_merkle_get_fn *get, void *arg,
                                      uint8_t **proof_p, size_t *len_p);

//  Checks that leaf_hash is leaf index of the tree of size size with root
//  root, given path (path_len hashes of 32 bytes; path may be NULL if
//  path_len is 0). RFC 9162 section 2.1.3.2. Pure: needs no store.
//  Errors: IH_E_PROOF (index >= size, wrong path length, or the path does
//  not lead to root).
ih_err_t ih_merkle_verify_inclusion (uint64_t index, uint64_t size,
                                     const uint8_t *leaf_hash,
                                     const uint8_t *path, size_t path_len,
                                     const uint8_t *root);

//  Checks that the tree of size new_size with root new_root extends the
//  tree of size old_size with root old_root, given proof (proof_len
//  hashes). RFC 9162 section 2.1.4.2, plus the trivial cases: old_size 0
//  needs an empty proof and old_root equal to the empty tree's root;
//  old_size == new_size needs an empty proof and equal roots.
//  Errors: IH_E_PROOF (old_size > new_size, wrong proof length, or the
//  proof does not reconcile the two roots).
ih_err_t ih_merkle_verify_consistency (uint64_t old_size, uint64_t new_size,
                                       const uint8_t *old_root,
                                       const uint8_t *new_root,
                                       const uint8_t *proof, size_t proof_len);

//  Selftest
void ih_merkle_test (bool verbose);

#endif
