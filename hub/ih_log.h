/*  =========================================================================
    ih_log - the hub's append-only event log in LMDB

    One LMDB environment in the hub's data directory (data.mdb) with these
    named databases:
        log    hub_seq (u64 BE) -> ih_record (received || signed event)
        index  site || 0x00 || seq (u64 BE) -> hub_seq (u64 BE)
        sites  site -> last seq (u64 BE) || hash of last signed event (32)
        tree   level (u8) || index (u64 BE) -> 32-byte Merkle subtree hash
        checkpoints  size (u64 BE) -> signed checkpoint (ih_checkpoint)
        meta   "format" -> "2" ("1": no tree; upgraded on open)
    Writers use one write transaction per batch (group commit):
    ih_log_begin, any number of ih_log_append, ih_log_commit. Nothing is
    visible to readers, and nothing may be acknowledged, before commit
    returns IH_OK: the commit has then been fsynced (no MDB_NOSYNC).
    Only one thread (the ingest actor) writes. Readers (replay, audit) open
    the log read-only and use short read transactions.
    =========================================================================*/
#ifndef IH_LOG_H_INCLUDED
#define IH_LOG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ih_err.h"
#include "ih_event.h"
#include "ih_key.h"

typedef struct _ih_log_t ih_log_t;

#define IH_LOG_MAP_DEFAULT ((size_t) 1 << 30) //  1 GiB

//  Opens (creating if needed, unless readonly) the log in dir. map_size 0
//  means IH_LOG_MAP_DEFAULT. Runs mdb_reader_check. Returns NULL and logs
//  why on failure.
ih_log_t *ih_log_new (const char *dir, bool readonly, size_t map_size);

//  Closes (aborting an open batch) and frees; safe to call twice.
void ih_log_destroy (ih_log_t **self_p);

//  Starts a batch (write transaction). Errors: IH_E_STORE, IH_E_BADARG
//  (read-only log, or a batch already open).
ih_err_t ih_log_begin (ih_log_t *self);

//  Within the open batch, checks event (decoded from bytes, signature
//  already verified by the caller) against its site's chain and appends it.
//  Returns:
//    IH_OK           appended; *hub_seq_p = its new hub sequence
//    IH_E_DUPLICATE  the identical bytes are stored; *hub_seq_p = original
//    IH_E_CONFLICT   seq already used by different bytes
//    IH_E_GAP        seq > last + 1; *expected_p = last + 1
//    IH_E_CHAIN      seq == last + 1 but prev is not the last event's hash
//    IH_E_FULL       the LMDB map is full: the batch must be aborted
//    IH_E_STORE      other LMDB error (logged): the batch must be aborted
ih_err_t ih_log_append (ih_log_t *self, const ih_event_t *event,
                        const uint8_t *bytes, size_t size, uint64_t received,
                        uint64_t *hub_seq_p, uint64_t *expected_p);

//  Commits the batch durably. Errors: IH_E_FULL, IH_E_STORE (the batch is
//  then gone, as if aborted).
ih_err_t ih_log_commit (ih_log_t *self);

//  Doubles the LMDB map, up to max_size bytes, so that a batch refused
//  with IH_E_FULL can be retried. Only between batches. Sets *size_p (if
//  not NULL) to the new size. Errors: IH_E_FULL (already at max_size),
//  IH_E_BADARG (a batch or a pinned snapshot is open, or read-only),
//  IH_E_STORE.
ih_err_t ih_log_grow (ih_log_t *self, size_t max_size, size_t *size_p);

//  Drops the open batch, if any.
void ih_log_abort (ih_log_t *self);

//  Last committed hub sequence (0 for an empty log).
uint64_t ih_log_last (ih_log_t *self);

//  Committed events and bytes of stored records.
void ih_log_stats (ih_log_t *self, uint64_t *events_p, uint64_t *bytes_p,
                   uint64_t *sites_p);

//  Callback for ih_log_read: return 0 to go on, non-zero to stop.
//  bytes is valid only during the call.
typedef int (ih_log_fn) (uint64_t hub_seq, uint64_t received,
                         const uint8_t *bytes, size_t size, void *arg);

//  Calls fn for each committed event with hub_seq >= from, in order, at
//  most max events (0 = all), in one read transaction. A record that does
//  not decode is passed with received 0 and its raw value as bytes, so that
//  audit can name it. Errors: IH_E_STORE.
ih_err_t ih_log_read (ih_log_t *self, uint64_t from, uint64_t max,
                      ih_log_fn *fn, void *arg);

//  Like ih_log_read, but every record is passed as stored (an ih_record,
//  version || received || signed event), whether or not it decodes, with
//  received 0: the caller splits it with ih_record_decode. For audit, which
//  must tell a record that does not decode from one whose received field
//  is 0. Errors: IH_E_STORE.
ih_err_t ih_log_read_raw (ih_log_t *self, uint64_t from, uint64_t max,
                          ih_log_fn *fn, void *arg);

//  Callback for ih_log_sites: one entry of the sites table (the hub's
//  chain heads). site is NUL-terminated and last_hash IH_HASH_SIZE bytes,
//  both valid only during the call. A damaged entry (a value that is not
//  8 + IH_HASH_SIZE bytes, or a key longer than IH_NAME_MAX) is passed
//  with last_seq 0 and last_hash NULL, its key cut to IH_NAME_MAX bytes.
//  Return 0 to go on, non-zero to stop.
typedef int (ih_log_site_fn) (const char *site, uint64_t last_seq,
                              const uint8_t *last_hash, void *arg);

//  Calls fn for each entry of the sites table, sorted by site, in one read
//  transaction. Errors: IH_E_STORE.
ih_err_t ih_log_sites (ih_log_t *self, ih_log_site_fn *fn, void *arg);

//  Callback for ih_log_index: one entry of the index, (site, seq) ->
//  hub_seq. site is valid only during the call. A damaged entry (no 0x00
//  separator, a site longer than IH_NAME_MAX, or a value that is not 8
//  bytes) is passed with seq 0 and hub_seq 0. Return 0 to go on.
typedef int (ih_log_index_fn) (const char *site, uint64_t seq, uint64_t hub_seq,
                               void *arg);

//  Calls fn for each index entry, sorted by site then seq, in one read
//  transaction. Errors: IH_E_STORE.
ih_err_t ih_log_index (ih_log_t *self, ih_log_index_fn *fn, void *arg);

//  Calls fn for the events of one site with seq >= from_seq, in seq order
//  (which is also log order), through the index, in one read transaction.
//  For the registry, which rebuilds from the bureau's events at start.
//  Errors: IH_E_STORE.
ih_err_t ih_log_site_events (ih_log_t *self, const char *site,
                             uint64_t from_seq, ih_log_fn *fn, void *arg);

//  The site's last stored seq (0 if none), seeing what the open batch
//  appended when the writer calls it inside a batch. Errors: IH_E_STORE.
ih_err_t ih_log_site_last (ih_log_t *self, const char *site, uint64_t *seq_p);

//  Pins one snapshot of a log opened read-only: until ih_log_unpin, every
//  read (ih_log_read, ih_log_read_raw, ih_log_sites, ih_log_index,
//  ih_log_last, ih_log_stats) sees the same committed state, so a reader
//  that compares tables (audit) is not misled by a hub that writes
//  meanwhile. Holds one read transaction: pages the writer freed since
//  cannot be reused until unpin, so pin only for one pass.
//  Errors: IH_E_BADARG (not read-only, or already pinned), IH_E_STORE.
ih_err_t ih_log_pin (ih_log_t *self);

//  Ends the pinned snapshot, if any (ih_log_destroy does it too).
void ih_log_unpin (ih_log_t *self);

//  ---------------------------------------------------------------------
//  The Merkle tree and signed checkpoints (issue 3; proto/ih_merkle.h and
//  proto/ih_checkpoint.h define the hashing and encodings). The tree's
//  leaves are the stored records in hub order (leaf index = hub_seq - 1);
//  every complete subtree hash is kept in the `tree` table, written in the
//  same transaction as the records. These readers use their own short read
//  transaction and may be called from a thread other than the writer's.

//  Root of the tree over the first size committed events (0 <= size <=
//  ih_log_last). Errors: IH_E_BADARG (size beyond the log), IH_E_STORE.
ih_err_t ih_log_root (ih_log_t *self, uint64_t size, uint8_t *root);

//  Inclusion proof (RFC 9162 audit path) of the event at hub_seq in the
//  tree of the given size; *path_p is malloc'ed, *len_p hashes of 32
//  bytes. Errors: IH_E_BADARG (hub_seq 0 or beyond size, size beyond the
//  log), IH_E_STORE.
ih_err_t ih_log_inclusion_proof (ih_log_t *self, uint64_t hub_seq,
                                 uint64_t size, uint8_t **path_p,
                                 size_t *len_p);

//  Consistency proof between the trees of old_size and new_size; same
//  conventions. Errors: IH_E_BADARG (old > new, new beyond the log),
//  IH_E_STORE.
ih_err_t ih_log_consistency_proof (ih_log_t *self, uint64_t old_size,
                                   uint64_t new_size, uint8_t **proof_p,
                                   size_t *len_p);

//  The stored signed checkpoint of exactly this tree size, or the latest
//  one when size is 0, copied into out (IH_CHECKPOINT_MAX bytes).
//  Errors: IH_E_MISSING (none), IH_E_STORE.
ih_err_t ih_log_checkpoint (ih_log_t *self, uint64_t size, uint8_t *out,
                            size_t *size_p);

//  Calls fn for every stored signed checkpoint in size order; bytes are
//  valid during the call only; fn returns non-zero to stop.
typedef int (ih_log_checkpoint_fn) (const uint8_t *bytes, size_t size,
                                    void *arg);
ih_err_t ih_log_checkpoints (ih_log_t *self, ih_log_checkpoint_fn *fn,
                             void *arg);

//  Stores a signed checkpoint (ih_checkpoint bytes) under its size: inside
//  the open batch if there is one (then it commits or aborts with it), else
//  in a transaction of its own that commits durably. Only the writer.
//  Errors: IH_E_BADARG (read-only, or the checkpoint does not decode, or
//  its size is beyond the log), IH_E_FULL, IH_E_STORE.
ih_err_t ih_log_put_checkpoint (ih_log_t *self, const uint8_t *bytes,
                                size_t size);

//  Within the open batch: the size of the tree including what the batch
//  appended so far, and its root (ih_log_root sees only committed data).
//  Errors: IH_E_BADARG (no batch open), IH_E_STORE.
ih_err_t ih_log_batch_root (ih_log_t *self, uint64_t *size_p, uint8_t *root);

//  Checks the tree against the records, for the hub at start: recomputes
//  every leaf hash from the stored records and every complete subtree, and
//  compares them with the `tree` table; recomputes the root at every stored
//  checkpoint's size and compares it with the checkpoint's root; verifies
//  the latest checkpoint's signature and log id with hub_key (if not NULL).
//  Not while a batch is open. On a mismatch returns IH_E_PROOF, sets
//  *bad_hub_seq_p (if not NULL) to the first hub_seq that does not match
//  (for a checkpoint beyond the log, the first missing one) and *why_p (if
//  not NULL) to a malloc'ed reason the caller frees.
//  Errors: IH_E_PROOF, IH_E_STORE.
ih_err_t ih_log_verify (ih_log_t *self, ih_key_t *hub_key,
                        uint64_t *bad_hub_seq_p, char **why_p);

//  Selftest
void ih_log_test (bool verbose);

#endif
