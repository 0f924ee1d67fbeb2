/*  =========================================================================
    ih_hubtest - selftest support for the hub modules

    The selftests of ih_registry, ih_journal, ih_zap, ih_publish,
    ih_replay and ih_ingest each need a registry to test against, built
    the way the hub builds one: the bureau signs registry.* events as its
    own chain of seq and prev, either in memory (ih_hubtest_chain_t, for
    tests that admit events themselves) or through the bureau's journal
    file (ih_hubtest_append, which keeps seq and prev in the file), and
    each event is admitted and applied as ih_ingest does. This module holds
    those steps once: a fixture (a fresh directory, the journal path, the
    pinned bureau key and its registry), builders for the four kinds of
    registry change, event signing, chains, and CURVE test clients.

    Everything here asserts on failure, which only a test may do: it is
    never called from the hub's own code paths. It lives in libihhub so
    that each module's ih_<module>_test can use it.
    =========================================================================*/
#ifndef IH_HUBTEST_H_INCLUDED
#define IH_HUBTEST_H_INCLUDED

#include <czmq.h>
#include "ih_err.h"
#include "ih_event.h"
#include "ih_key.h"
#include "ih_log.h"
#include "ih_regchange.h"
#include "ih_registry.h"

//  The bureau's site id in every hub selftest.
#define IH_HUBTEST_BUREAU "qd-bureau"

//  A selftest's world. All fields are owned by it.
typedef struct {
    char *dir;               //  a fresh directory under /tmp
    char *journal;           //  dir/registry.journal (made by an append)
    ih_key_t *bureau;        //  IH_HUBTEST_BUREAU, with its secret
    ih_registry_t *registry; //  pinned to bureau; holds only it at first
} ih_hubtest_t;

//  Makes the directory /tmp/<name>.XXXXXX, a fresh bureau key and a
//  registry pinned to it. Never returns NULL.
ih_hubtest_t *ih_hubtest_new (const char *name);
//  Destroys the registry and the bureau key, removes the directory with
//  everything in it, frees; sets *self_p to NULL; safe to call twice.
void ih_hubtest_destroy (ih_hubtest_t **self_p);
//  "dir/name"; the caller frees it (zstr_free).
char *ih_hubtest_path (ih_hubtest_t *self, const char *name);

//  Registry changes (proto/ih_regchange.h). Each clears *change first.
//  Site key's name added as kind in district, with key's signing and
//  transport keys.
void ih_hubtest_site_added (ih_regchange_t *change, ih_key_t *key,
                            const char *kind, const char *district);
//  Key's site moves to key's signing and transport keys from from_seq.
void ih_hubtest_key_rotated (ih_regchange_t *change, ih_key_t *key,
                             uint64_t from_seq);
//  Site's key revoked; reason may be NULL (none).
void ih_hubtest_key_revoked (ih_regchange_t *change, const char *site,
                             const char *reason);
//  Kind may publish the patterns of the NULL-terminated list publish
//  (NULL: none) and read with scope read.
void ih_hubtest_permissions (ih_regchange_t *change, const char *kind,
                             ih_read_scope_t read, const char **publish);

//  Signs an event of key's site: number seq after prev (NULL: zeros), of
//  type, at ts (0: now), its data the JSON object text json (NULL: no
//  data). Returns the encoded event (the caller frees it) and its size in
//  *size_p.
uint8_t *ih_hubtest_sign (ih_key_t *key, uint64_t seq, const uint8_t *prev,
                          const char *type, uint64_t ts, const char *json,
                          size_t *size_p);

//  Decodes the signed event bytes and admits it to registry (no peer;
//  last and arg as ih_registry_admit takes them); asserts that the result
//  is expect and, if expect_why is not NULL, that the reason is
//  expect_why (a mismatch is printed first). On IH_OK applies the event
//  and asserts that the registry's version went up by one.
void ih_hubtest_admit (ih_registry_t *registry, const uint8_t *bytes,
                       size_t size, ih_registry_last_fn *last, void *arg,
                       ih_err_t expect, const char *expect_why);

//  Appends change to the journal file as signer's next event
//  (ih_journal_append keeps seq and prev). If registry is not NULL, the
//  event must then be admitted there, and is applied (ih_hubtest_admit).
//  If bytes_p is not NULL, *bytes_p and *size_p get the signed event,
//  which the caller frees.
void ih_hubtest_append (const char *journal, ih_key_t *signer,
                        const ih_regchange_t *change, ih_registry_t *registry,
                        uint8_t **bytes_p, size_t *size_p);
//  Change as the bureau's next journal event, admitted to and applied in
//  the fixture's registry.
void ih_hubtest_change (ih_hubtest_t *self, const ih_regchange_t *change);
//  Adds key's site as kind in district, as ih_hubtest_change does.
void ih_hubtest_add_site (ih_hubtest_t *self, ih_key_t *key, const char *kind,
                          const char *district);

//  The chain of one site's events, signed in memory: seq and prev of the
//  next event come from here.
typedef struct {
    ih_key_t *key;              //  signs the events (borrowed)
    uint64_t seq;               //  seq of the last event, 0 before the first
    uint8_t prev[IH_HASH_SIZE]; //  hash of the last event, zeros before
    ih_log_t *log; //  if not NULL, advancing appends to it (borrowed)
} ih_hubtest_chain_t;

//  Signs the chain's next event (as ih_hubtest_sign does) without
//  advancing the chain: a test may still find it refused.
uint8_t *ih_hubtest_chain_sign (const ih_hubtest_chain_t *chain,
                                const char *type, uint64_t ts, const char *json,
                                size_t *size_p);
//  Makes bytes, the chain's next event, its last: appends it to the
//  chain's log (if set) as received at received (0: now; the caller holds
//  the log's batch open), then moves seq and prev on.
void ih_hubtest_chain_advance (ih_hubtest_chain_t *chain, const uint8_t *bytes,
                               size_t size, uint64_t received);
//  Signs, advances and frees the chain's next event in one step.
void ih_hubtest_chain_append (ih_hubtest_chain_t *chain, const char *type,
                              uint64_t ts, const char *json, uint64_t received);

//  A socket of type (ZMQ_DEALER, ZMQ_SUB) connected to endpoint as a
//  CURVE client with key, of the server with key hub.
zsock_t *ih_hubtest_client (int type, const char *endpoint, ih_key_t *key,
                            ih_key_t *hub);

#endif
