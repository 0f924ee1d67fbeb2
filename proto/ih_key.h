/*  =========================================================================
    ih_key - a site's keys and their files: Ed25519 for signing events,
    Curve25519 for the CurveZMQ transport

    A site signs its events with an Ed25519 key pair (libsodium) and
    authenticates its connections to the hub with a separate Curve25519
    pair (CurveZMQ, applied to sockets through CZMQ's zcert). Both pairs
    are made together by ih_key_new and kept in the same files, which are
    ZPL text (CZMQ zconfig), like CZMQ certificates:

        NAME.pub   public parts only, mode 0644:
            incuhub
                name = "lh-inc-01"
                sign-public = "<64 hex digits>"
                curve-public = "<64 hex digits>"
        NAME.key   public and secret parts, mode 0600:
            incuhub
                name = "lh-inc-01"
                sign-public = "<64 hex digits>"
                sign-secret = "<128 hex digits>"
                curve-public = "<64 hex digits>"
                curve-secret = "<64 hex digits>"

    Files written before the transport keys existed have no curve-* lines;
    they still load (ih_key_has_curve is then false) and can sign, but not
    connect over CURVE. A file with curve-secret must have curve-public,
    and the secret must derive that public key (else IH_E_KEY).

    A secret key file that group or others can read is refused (IH_E_KEYPERM).
    Key material is never logged.
    =========================================================================*/
#ifndef IH_KEY_H_INCLUDED
#define IH_KEY_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include "ih_err.h"

#define IH_KEY_PUBLIC_SIZE 32
#define IH_KEY_SECRET_SIZE 64
#define IH_KEY_SIG_SIZE 64
#define IH_KEY_HEX_SIZE (2 * IH_KEY_PUBLIC_SIZE + 1) //  with the NUL
#define IH_KEY_CURVE_SIZE 32 //  Curve25519 public or secret key

typedef struct _ih_key_t ih_key_t;

//  Generates a fresh signing pair and a fresh transport (Curve25519) pair
//  named name (a site id). Returns NULL only if name is NULL or too long.
ih_key_t *ih_key_new (const char *name);

//  Makes a public-only key from 32 raw bytes (no transport key).
ih_key_t *ih_key_new_public (const char *name, const uint8_t *public_key);

//  Makes a public-only key with both public parts (32 raw bytes each).
ih_key_t *ih_key_new_public_pair (const char *name, const uint8_t *sign_public,
                                  const uint8_t *curve_public);

//  Loads NAME.key or NAME.pub from path. On success sets *key_p and returns
//  IH_OK. Errors: IH_E_KEY (missing, unreadable, malformed), IH_E_KEYPERM
//  (a file with a secret part whose mode allows group or other access).
ih_err_t ih_key_load (const char *path, ih_key_t **key_p);

//  Writes dir/NAME.key (mode 0600, created with that mode, never widened)
//  and dir/NAME.pub (mode 0644). Refuses to overwrite an existing file.
//  Errors: IH_E_BADARG (no secret part), IH_E_IO (exists, or write failed).
ih_err_t ih_key_save (ih_key_t *self, const char *dir);

//  Frees; sets *self_p to NULL; safe to call twice.
void ih_key_destroy (ih_key_t **self_p);

//  The key's name (site id), borrowed.
const char *ih_key_name (ih_key_t *self);
//  The 32-byte public key, borrowed.
const uint8_t *ih_key_public (ih_key_t *self);
//  True if the secret part is loaded.
bool ih_key_has_secret (ih_key_t *self);

//  True if the key has a transport (Curve25519) public key.
bool ih_key_has_curve (ih_key_t *self);
//  True if it also has the transport secret key.
bool ih_key_has_curve_secret (ih_key_t *self);
//  The 32-byte transport public key, borrowed; NULL if none.
const uint8_t *ih_key_curve_public (ih_key_t *self);

//  A fresh CZMQ certificate holding the transport pair (the secret part
//  zero when only the public key is loaded), for zcert_apply. Caller
//  destroys. NULL if the key has no transport key.
zcert_t *ih_key_cert (ih_key_t *self);

//  Detached Ed25519 signature of msg into sig (64 bytes).
//  Errors: IH_E_BADARG (no secret part).
ih_err_t ih_key_sign (ih_key_t *self, const uint8_t *msg, size_t size,
                      uint8_t *sig);

//  Verifies a detached signature with a raw public key.
//  Errors: IH_E_BADSIG.
ih_err_t ih_key_verify (const uint8_t *public_key, const uint8_t *msg,
                        size_t size, const uint8_t *sig);

//  Lower-case hex of 32 bytes into hex (IH_KEY_HEX_SIZE chars incl. NUL).
void ih_key_to_hex (const uint8_t *public_key, char *hex);
//  Parses 64 hex digits into 32 bytes. Errors: IH_E_KEY.
ih_err_t ih_key_from_hex (const char *hex, uint8_t *public_key);

//  Selftest
void ih_key_test (bool verbose);

#endif
