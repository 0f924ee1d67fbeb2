/*  =========================================================================
    ih_json - mapping between JSON (Jansson) and msgpack payloads

    Payloads travel as msgpack maps; people and scripts write and read JSON.
    JSON objects, arrays, strings, integers, reals, booleans and null map to
    the msgpack types of the same name; msgpack bin becomes a string of the
    form "base64:<...>"; msgpack ext is rejected. Nesting deeper than
    IH_JSON_DEPTH is rejected.
    =========================================================================*/
#ifndef IH_JSON_H_INCLUDED
#define IH_JSON_H_INCLUDED

#include <jansson.h>
#include "ih_err.h"
#include "ih_event.h"

#define IH_JSON_DEPTH 32

//  Packs a JSON object as a msgpack map into a malloc'ed buffer.
//  Errors: IH_E_TYPE (not an object), IH_E_TOOBIG (over IH_EVENT_MAX or
//  too deep).
ih_err_t ih_json_to_msgpack (const json_t *object, uint8_t **out_p,
                             size_t *size_p);

//  Parses exactly one msgpack value into a new JSON value (*json_p, caller
//  owns the reference). Errors: IH_E_MALFORMED, IH_E_TRAILING, IH_E_TYPE
//  (ext type, or a non-string map key), IH_E_TOOBIG (too deep).
ih_err_t ih_json_from_msgpack (const uint8_t *bytes, size_t size,
                               json_t **json_p);

//  The JSON line tail, replay and audit print for a stored event:
//  {"hub_seq":N,"site":S,"seq":N,"ts":N,"type":S,"received":N,"data":{...}}
//  hub_seq and received are left out when 0. Returns NULL if data does not
//  parse (logged).
json_t *ih_json_event (const ih_event_t *event, uint64_t hub_seq,
                       uint64_t received);

//  Selftest
void ih_json_test (bool verbose);

#endif
