/*  =========================================================================
    ih_outbox - the agent's durable outbox of signed events

    Sits between a site's publishers and the forwarder in ih_agent: an event
    is signed and committed here before anyone is told it exists, and it
    stays here until the hub has acknowledged it.

    One LMDB environment in the outbox directory (data.mdb, lock.mdb, plus
    agent.lock, an flock that keeps a second process out) with two DBIs:
        events  seq (u64 BE) -> signed event
        meta    "site"      -> site id (an outbox belongs to one site)
                "next_seq"  -> u64 BE, the sequence the next event gets
                "last_hash" -> 32 bytes, hash of the last signed event
                "acked"     -> u64 BE, highest sequence the hub has stored

    Invariants:
    - A sequence is never reused: next_seq is written in the same
      transaction as the event that took the previous value. A crash after
      commit keeps both; a crash before commit keeps neither, and the caller
      was never confirmed.
    - The chain never breaks: last_hash is kept in meta, so the next event
      links to its predecessor even after that one was acked and deleted.
    - Events with seq > acked are never deleted.

    Writes use batches (group commit): ih_outbox_begin, any number of
    ih_outbox_add, ih_outbox_commit. Nothing may be confirmed to a publisher
    before commit returns IH_OK (it has then been fsynced). Each add runs in
    a nested transaction, so an add that fails (bad type or data, map full)
    leaves the rest of the batch intact.

    Not thread-safe: one thread (the agent actor) uses an outbox.
    =========================================================================*/
#ifndef IH_OUTBOX_H_INCLUDED
#define IH_OUTBOX_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ih_err.h"
#include "ih_key.h"

#define IH_OUTBOX_MAP_DEFAULT ((size_t) 1 << 30) //  1 GiB

typedef struct _ih_outbox_t ih_outbox_t;

//  Opens or creates the outbox of site in dir (creating dir if missing).
//  map_size 0 means IH_OUTBOX_MAP_DEFAULT. Runs mdb_reader_check. Returns
//  NULL and logs why on failure; *err_p (if not NULL) then says which:
//  IH_E_BADARG (invalid site id), IH_E_WRONGSITE (outbox of another site),
//  IH_E_IO (directory), IH_E_STORE (LMDB error, or in use by another
//  process).
ih_outbox_t *ih_outbox_new (const char *dir, const char *site, size_t map_size,
                            ih_err_t *err_p);

//  Closes (aborting an open batch) and frees; safe to call twice.
void ih_outbox_destroy (ih_outbox_t **self_p);

//  Starts a batch. Errors: IH_E_BADARG (a batch is open), IH_E_STORE.
ih_err_t ih_outbox_begin (ih_outbox_t *self);

//  Within the open batch, builds the next event (seq = next_seq, ts = now,
//  prev = last_hash, site = the outbox's), signs it with key, and stores
//  it. data is one msgpack map. On IH_OK *seq_p is its sequence; it is
//  durable only after ih_outbox_commit. On any error nothing was stored and
//  the batch is still usable.
//  Errors: from ih_event_sign (IH_E_BADNAME, IH_E_BADARG, IH_E_MALFORMED,
//  IH_E_TOOBIG), IH_E_WRONGSITE (key of another site), IH_E_FULL (map
//  full, or the event would take the pages in use above 90% of the map:
//  the rest is headroom that deletes of acknowledged events need, since
//  LMDB is copy-on-write), IH_E_STORE, IH_E_BADARG (no open batch).
ih_err_t ih_outbox_add (ih_outbox_t *self, ih_key_t *key, const char *type,
                        const uint8_t *data, size_t size, uint64_t *seq_p);

//  Commits the batch durably (fsync). Errors: IH_E_FULL (the commit itself
//  needs pages, e.g. for the freelist), IH_E_STORE (on either, the whole
//  batch is gone as if aborted: confirm none of it), IH_E_BADARG (no open
//  batch).
ih_err_t ih_outbox_commit (ih_outbox_t *self);

//  Drops the open batch, if any. Its sequences will be handed out again:
//  nobody was confirmed for them.
void ih_outbox_abort (ih_outbox_t *self);

//  Copies the signed event seq into a malloc'ed buffer (*out_p, *size_p)
//  the caller frees. Errors: IH_E_MISSING (no such event, e.g. acked and
//  deleted), IH_E_STORE.
ih_err_t ih_outbox_get (ih_outbox_t *self, uint64_t seq, uint8_t **out_p,
                        size_t *size_p);

//  Callback for ih_outbox_iterate: return 0 to go on, non-zero to stop.
//  bytes is valid only during the call.
typedef int (ih_outbox_fn) (uint64_t seq, const uint8_t *bytes, size_t size,
                            void *arg);

//  Calls fn for each stored event with seq >= from, in order, at most max
//  events (0 = all), in one read transaction (or within the open batch).
//  Errors: IH_E_STORE.
ih_err_t ih_outbox_iterate (ih_outbox_t *self, uint64_t from, uint64_t max,
                            ih_outbox_fn *fn, void *arg);

//  Deletes every event with seq <= seq and raises "acked" to seq (never
//  lowers it), in one transaction. A seq >= next_seq is refused: the hub
//  cannot have stored what was never made. Errors: IH_E_BADARG (batch
//  open, or seq >= next_seq), IH_E_FULL, IH_E_STORE.
ih_err_t ih_outbox_ack_upto (ih_outbox_t *self, uint64_t seq);

//  Committed state. backlog: events stored (not yet deleted); first and
//  last: lowest and highest stored seq (0 if none); next_seq: the seq the
//  next event gets; acked: highest seq passed to ih_outbox_ack_upto.
uint64_t ih_outbox_backlog (ih_outbox_t *self);
uint64_t ih_outbox_first (ih_outbox_t *self);
uint64_t ih_outbox_last (ih_outbox_t *self);
uint64_t ih_outbox_next_seq (ih_outbox_t *self);
uint64_t ih_outbox_acked (ih_outbox_t *self);
//  The outbox's site id, borrowed.
const char *ih_outbox_site (ih_outbox_t *self);

//  Selftest
void ih_outbox_test (bool verbose);

#endif
