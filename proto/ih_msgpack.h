/*  =========================================================================
    ih_msgpack - bounded msgpack validation, private to proto/

    msgpack-c trusts the lengths it reads: a 5-byte input that announces an
    array of 2^32 elements makes msgpack_unpack_next allocate gigabytes
    before it notices the input is short. Every proto/ decoder therefore
    walks untrusted bytes with ih_msgpack_check first, which proves that the
    bytes hold one complete, well-formed value whose every announced count
    and length fits in the input and whose containers nest at most
    max_depth deep. Only then do the decoders hand the bytes to msgpack-c.

    Not part of the public API: only the .c files of proto/ include it.
    =========================================================================*/
#ifndef IH_MSGPACK_H_INCLUDED
#define IH_MSGPACK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <msgpack.h>
#include "ih_err.h"

//  Deepest container nesting accepted in a payload (a map holding a map
//  is depth 2). Equal to IH_JSON_DEPTH, and to msgpack-c's own parser
//  stack (MSGPACK_EMBED_STACK_SIZE), so msgpack-c never fails on input
//  that passed ih_msgpack_check.
#define IH_MSGPACK_DEPTH 32

//  Checks that bytes[0..size) begins with exactly one well-formed msgpack
//  value and sets *used_p to its length; the caller decides whether bytes
//  after it are an error. Never reads past size.
//  Errors: IH_E_MALFORMED (truncated, or the never-used byte 0xc1),
//  IH_E_TOOBIG (nesting deeper than max_depth).
ih_err_t ih_msgpack_check (const uint8_t *bytes, size_t size, int max_depth,
                           size_t *used_p);

//  True if the value starting at bytes (size >= 1) is a map.
bool ih_msgpack_is_map (const uint8_t *bytes, size_t size);

//  Reads an array header at bytes: sets *count_p and *header_p (its size
//  in bytes). Errors: IH_E_MALFORMED (not an array, or truncated).
ih_err_t ih_msgpack_array_header (const uint8_t *bytes, size_t size,
                                  uint32_t *count_p, size_t *header_p);

//  The start every proto/ decoder of a message array shares: checks that
//  bytes[0..size) is exactly one well-formed value (nesting at most
//  max_depth) and that it is a non-empty array; sets *count_p to its
//  length and *off_p to the offset of its first element.
//  Errors: those of ih_msgpack_check, IH_E_TRAILING (bytes after the
//  value), IH_E_MALFORMED (not an array), IH_E_MISSING (an empty array).
ih_err_t ih_msgpack_fields (const uint8_t *bytes, size_t size, int max_depth,
                            uint32_t *count_p, size_t *off_p);

//  Field 0 of a versioned array of count elements whose version has
//  exactly fields: checks the version before the length, so that a newer
//  version of another length is reported as IH_E_VERSION.
//  Errors: IH_E_TYPE (not a uint), IH_E_VERSION, IH_E_MISSING (count <
//  fields), IH_E_TRAILING (count > fields).
ih_err_t ih_msgpack_version (const msgpack_object *o, uint64_t version,
                             uint32_t count, uint32_t fields);

//  The typed field readers every proto/ decoder shares, for objects that
//  msgpack-c unpacked from input ih_msgpack_check accepted.

//  Unpacks the next value at *off into u. Returns 0, or -1 if there is
//  none (which cannot happen after a successful ih_msgpack_check).
int ih_msgpack_next (msgpack_unpacked *u, const uint8_t *bytes, size_t size,
                     size_t *off);

//  A non-negative integer. Errors: IH_E_TYPE.
ih_err_t ih_msgpack_uint (const msgpack_object *o, uint64_t *value_p);

//  A 32-byte hash (bin 32) copied into hash. Errors: IH_E_TYPE (not bin),
//  IH_E_MALFORMED (another length).
ih_err_t ih_msgpack_hash (const msgpack_object *o, uint8_t *hash);

//  A site id, event type or log id (str of 1..IH_NAME_MAX bytes of
//  [a-z0-9._-]) copied NUL-terminated into out (IH_NAME_MAX + 1 bytes).
//  Errors: IH_E_TYPE (not str), IH_E_TOOBIG, IH_E_BADNAME (empty, an
//  embedded NUL, or another character).
ih_err_t ih_msgpack_name (const msgpack_object *o, char *out);

//  The same check and copy for size bytes at ptr that need not be
//  NUL-terminated (the checkpoint text form uses it too).
//  Errors: IH_E_TOOBIG, IH_E_BADNAME.
ih_err_t ih_msgpack_name_copy (const char *ptr, size_t size, char *out);

#endif
