/*  =========================================================================
    ih_checkpoint - the hub's signed statement of its log's Merkle root

    A checkpoint says "my log (log id) had size leaves and Merkle root root
    at time", signed with the hub's own Ed25519 key (ih_key; the log id is
    that key's name). Auditors keep checkpoints; with ih_merkle's proofs
    they can later show that a record is in the log, and that the log only
    ever grew, using nothing but the hub's public key.

    Encoding (docs/protocol.md, "Merkle tree and checkpoints"):

        signed checkpoint = signature (64 bytes) || body
        body = msgpack array of 6, canonical (shortest encodings):
               [ version (uint, 1),
                 tag     (str, "incuhub-checkpoint"),
                 log id  (str, a name: 1..64 of [a-z0-9._-]),
                 size    (uint: leaves, i.e. the last hub_seq covered),
                 root    (bin 32: the Merkle root of those leaves),
                 time    (uint, ms since the Unix epoch, UTC) ]
        signature = Ed25519 over the body bytes

    The text form, for files and mail, is six lines, each ending in "\n":

        incuhub checkpoint v1
        <log id>
        <size, decimal>
        <root, 64 lower-case hex digits>
        <time, decimal>
        <signature, 128 lower-case hex digits>

    It holds exactly the same information as the signed bytes (the body is
    canonical, so it is rebuilt from the fields); the signature is checked
    against the rebuilt body.
    =========================================================================*/
#ifndef IH_CHECKPOINT_H_INCLUDED
#define IH_CHECKPOINT_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ih_err.h"
#include "ih_event.h"
#include "ih_key.h"

#define IH_CHECKPOINT_VERSION 1
#define IH_CHECKPOINT_TAG "incuhub-checkpoint"
//  Largest signed checkpoint in bytes (the real maximum is 203)
#define IH_CHECKPOINT_MAX 256
//  Largest text form in bytes, with the terminating NUL (the real maximum
//  is 22 + 65 + 21 + 65 + 21 + 129 + 1 = 324)
#define IH_CHECKPOINT_TEXT_MAX 384

//  A decoded checkpoint: a plain value.
typedef struct {
    char log_id[IH_NAME_MAX + 1];
    uint64_t size;
    uint8_t root[IH_HASH_SIZE];
    uint64_t time; //  ms since the Unix epoch, UTC
    uint8_t signature[IH_KEY_SIG_SIZE];
} ih_checkpoint_t;

//  Encodes and signs a checkpoint with key (the hub's, with its secret
//  part; its name is the log id) into out, which has room for
//  IH_CHECKPOINT_MAX bytes; sets *size_p to the length.
//  Errors: IH_E_BADARG (key without secret part), IH_E_BADNAME (key name
//  not a valid name).
ih_err_t ih_checkpoint_sign (uint64_t size, const uint8_t *root, uint64_t time,
                             ih_key_t *key, uint8_t *out, size_t *size_p);

//  Decodes a signed checkpoint without checking the signature. Never reads
//  past size. Errors, in the order checked: IH_E_TOOBIG (size >
//  IH_CHECKPOINT_MAX), IH_E_MALFORMED (no room for a body, not msgpack,
//  not an array), IH_E_TOOBIG (containers nested in the body),
//  IH_E_TRAILING (bytes after the body), IH_E_MISSING (empty array),
//  IH_E_TYPE / IH_E_VERSION (element 0), IH_E_MISSING / IH_E_TRAILING
//  (not 6 elements), then per element IH_E_TYPE (wrong type),
//  IH_E_MALFORMED (tag not "incuhub-checkpoint", root not 32 bytes),
//  IH_E_TOOBIG / IH_E_BADNAME (log id), and last IH_E_MALFORMED (body not
//  in shortest encoding).
ih_err_t ih_checkpoint_decode (const uint8_t *bytes, size_t size,
                               ih_checkpoint_t *checkpoint);

//  Checks the signature of a signed checkpoint against a 32-byte public
//  key. Does not decode: callers decode too (the signed bytes mean nothing
//  unless they are a valid checkpoint). Errors: IH_E_MALFORMED (no room
//  for a signature and a body), IH_E_BADSIG.
ih_err_t ih_checkpoint_verify (const uint8_t *bytes, size_t size,
                               const uint8_t *public_key);

//  Writes the text form of a signed checkpoint into a malloc'ed,
//  NUL-terminated string *text_p the caller frees. Decodes first (not the
//  signature). Errors: those of ih_checkpoint_decode.
ih_err_t ih_checkpoint_to_text (const uint8_t *bytes, size_t size,
                                char **text_p);

//  Parses the text form (exactly as above: no other spacing, no "\r", no
//  leading zeros or "+", lower-case hex, nothing after the sixth line)
//  back into the signed bytes, into out (room for IH_CHECKPOINT_MAX
//  bytes), *size_p their length. Does not check the signature.
//  Errors: IH_E_TOOBIG (text over IH_CHECKPOINT_TEXT_MAX), IH_E_VERSION
//  (first line "incuhub checkpoint v<other>"), IH_E_MALFORMED (any other
//  deviation, a number over 2^64-1), IH_E_BADNAME / IH_E_TOOBIG (log id).
ih_err_t ih_checkpoint_from_text (const char *text, uint8_t *out,
                                  size_t *size_p);

//  Selftest
void ih_checkpoint_test (bool verbose);

#endif
