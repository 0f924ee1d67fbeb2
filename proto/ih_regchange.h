/*  =========================================================================
    ih_regchange - registry changes: the payload of registry.* events

    The site registry lives in the log (issue 4). It is a stream of events
    of the bureau site whose key is pinned in the hub's configuration; each
    is an ordinary signed event (ih_event) whose type names the change and
    whose data map holds its fields. This module is the only place that
    knows those fields. All keys are lower-case hex (64 digits).

      registry.site_added   { "site": id, "kind": kind, "district": name,
                              "sign_key": hex, "curve_key": hex }
          A new site, valid for its events from seq 1.
      registry.key_rotated  { "site": id, "sign_key": hex, "curve_key": hex,
                              "from_seq": n }
          The site signs its events with seq >= from_seq with the new key;
          events with a lower seq still verify with the key(s) before. Its
          transport key is replaced at once. from_seq must be above every
          seq of the site already stored, and above the from_seq of its
          current key.
      registry.key_revoked  { "site": id, "reason": text }
          Every key the site has had is revoked from this point of the log
          on: no event of the site is accepted after it (whatever its seq)
          until a registry.key_rotated gives it a new key, and its
          transport key may not connect. Events stored before the
          revocation still verify in an audit.
      registry.permissions_changed { "kind": kind, "publish": [patterns],
                              "read": scope }
          Replaces what sites of that kind may publish and read. A pattern
          is an event type ("enterprise.admitted"), a prefix ending in ".*"
          ("enterprise.*") or "*" (any type). A scope is "all" (every
          event, the city-wide feed, replay and proofs), "district" (events
          of the reader's district), "own" (the reader's own events) or
          "none".

    Whatever the permissions say, registry.* events are accepted only from
    the pinned bureau site (hub/ih_registry enforces it).

    Site kinds: bureau, district, incubator, offshore, remote, auditor.
    =========================================================================*/
#ifndef IH_REGCHANGE_H_INCLUDED
#define IH_REGCHANGE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ih_err.h"
#include "ih_event.h"
#include "ih_key.h"

#define IH_REG_PREFIX "registry."
#define IH_REG_SITE_ADDED "registry.site_added"
#define IH_REG_KEY_ROTATED "registry.key_rotated"
#define IH_REG_KEY_REVOKED "registry.key_revoked"
#define IH_REG_PERMISSIONS "registry.permissions_changed"

#define IH_REG_KIND_MAX 16     //  bytes of a kind name, with the NUL
#define IH_REG_PATTERNS_MAX 32 //  publish patterns per kind
#define IH_REG_REASON_MAX 200  //  bytes of a revocation reason, with NUL

typedef enum {
    IH_REG_OP_SITE_ADDED,
    IH_REG_OP_KEY_ROTATED,
    IH_REG_OP_KEY_REVOKED,
    IH_REG_OP_PERMISSIONS
} ih_regop_t;

typedef enum {
    IH_READ_NONE = 0,
    IH_READ_OWN,
    IH_READ_DISTRICT,
    IH_READ_ALL
} ih_read_scope_t;

typedef struct {
    ih_regop_t op;
    char site[IH_NAME_MAX + 1];           //  added, rotated, revoked
    char kind[IH_REG_KIND_MAX];           //  added, permissions
    char district[IH_NAME_MAX + 1];       //  added
    uint8_t sign_key[IH_KEY_PUBLIC_SIZE]; //  added, rotated
    uint8_t curve_key[IH_KEY_CURVE_SIZE]; //  added, rotated
    uint64_t from_seq;                    //  rotated (>= 2)
    char reason[IH_REG_REASON_MAX];       //  revoked ("" if none)
    size_t publish_count;                 //  permissions
    char publish[IH_REG_PATTERNS_MAX][IH_NAME_MAX + 1];
    ih_read_scope_t read; //  permissions
} ih_regchange_t;

//  True if type starts with "registry.".
bool ih_regchange_is_registry (const char *type);

//  True if kind is one of the six site kinds.
bool ih_regchange_kind_valid (const char *kind);

//  The scope's name ("all", ...) and back. ih_regchange_scope_parse
//  returns false for an unknown name.
const char *ih_regchange_scope_name (ih_read_scope_t scope);
bool ih_regchange_scope_parse (const char *name, ih_read_scope_t *scope_p);

//  True if pattern is a valid publish pattern: "*", a valid event type,
//  or a valid name followed by ".*".
bool ih_regchange_pattern_valid (const char *pattern);
//  True if type matches pattern.
bool ih_regchange_pattern_match (const char *pattern, const char *type);

//  Reads the change from a decoded registry.* event (its type and data).
//  Errors: IH_E_REGISTRY with a reason in why (unknown registry type, a
//  field missing or of the wrong type, a bad site id, kind, district,
//  key, pattern or scope, from_seq < 2, too many patterns, extra fields).
ih_err_t ih_regchange_decode (const ih_event_t *event, ih_regchange_t *change,
                              char *why, size_t why_size);

//  The event type of the change (IH_REG_*).
const char *ih_regchange_type (const ih_regchange_t *change);

//  The change's data map as JSON text (malloc'ed, caller frees), ready to
//  be the data of an event signed by the bureau (ih_json_to_msgpack).
char *ih_regchange_json (const ih_regchange_t *change);

//  Selftest
void ih_regchange_test (bool verbose);

#endif
