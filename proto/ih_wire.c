/*  =========================================================================
    ih_wire - the ZeroMQ messages incuhub exchanges

    The only place that knows a frame layout. Agents, the hub and the CLI
    build messages with the ih_wire_* builders and take them apart with
    ih_wire_decode (DEALER/ROUTER traffic) or ih_wire_decode_pub (the hub's
    PUB socket); docs/protocol.md is the normative description.

    Decoding order, which fixes the error code for each kind of bad input:
    empty message -> IH_E_FRAMES; whole message over IH_WIRE_MAX ->
    IH_E_TOOBIG; unknown command -> IH_E_COMMAND; frame count -> IH_E_FRAMES;
    then the body frames in order. msgpack bodies are first proven
    well-formed and bounded by ih_msgpack_check (truncated -> MALFORMED, a
    value after the array -> TRAILING), then: not an array -> MALFORMED, too
    few elements -> MISSING, too many -> TRAILING, then each field (wrong
    msgpack type -> TYPE, name too long -> TOOBIG, bad name -> BADNAME).
    The integers and strings in ACK/NAK/CONFIRM bodies need not be in
    shortest form: these bodies are not signed or stored. PUBLISH, CONFIRM
    and NAK may end in one extra frame, an opaque request tag (1..64
    bytes), checked last: empty -> MALFORMED, longer -> TOOBIG.
    =========================================================================*/
#include <stdlib.h>
#include <string.h>
#include <msgpack.h>
#include <sodium.h>
#include "ih_wire.h"
#include "ih_check.h"
#include "ih_msgpack.h"
#include "ih_record.h"

#define S_TOPIC_MAX (3 * IH_NAME_MAX + 3) //  without the NUL

//  tagged: the command may carry a request tag as one extra last frame;
//  frames_max then counts it.
static const struct {
    const char *name;
    ih_wire_kind_t kind;
    size_t frames_min, frames_max; //  including the command frame
    bool tagged;
} s_commands[] = {
    {"EVENT", IH_WIRE_EVENT, 2, 2, false},
    {"ACK", IH_WIRE_ACK, 2, 2, false},
    {"NAK", IH_WIRE_NAK, 2, 3, true},
    {"STATUS", IH_WIRE_STATUS, 1, 2, false},
    {"PUBLISH", IH_WIRE_PUBLISH, 3, 4, true},
    {"CONFIRM", IH_WIRE_CONFIRM, 2, 3, true},
    {"REPLAY", IH_WIRE_REPLAY, 2, 2, false},
    {"CREDIT", IH_WIRE_CREDIT, 2, 2, false},
    {"RECORD", IH_WIRE_RECORD, 3, 3, false},
    {"END", IH_WIRE_END, 2, 2, false},
    {"CHECKPOINT", IH_WIRE_CHECKPOINT, 2, 2, false},
    {"PROVE-INCLUSION", IH_WIRE_PROVE_INCLUSION, 2, 2, false},
    {"PROVE-CONSISTENCY", IH_WIRE_PROVE_CONSISTENCY, 2, 2, false},
    {"SIGNED-CHECKPOINT", IH_WIRE_SIGNED_CHECKPOINT, 2, 2, false},
    {"INCLUSION-PROOF", IH_WIRE_INCLUSION, 5, 5, false},
    {"CONSISTENCY-PROOF", IH_WIRE_CONSISTENCY, 4, 4, false},
};

//  --------------------------------------------------------------------------
//  Builders

static zmsg_t *
s_msg (const char *command)
{
    zmsg_t *msg = zmsg_new ();
    assert (msg);
    zmsg_addstr (msg, command);
    return msg;
}

static void
s_add_sbuf (zmsg_t *msg, msgpack_sbuffer *sbuf)
{
    zmsg_addmem (msg, sbuf->data, sbuf->size);
    msgpack_sbuffer_destroy (sbuf);
}

static void
s_pack_string (msgpack_packer *pk, const char *string, size_t len)
{
    msgpack_pack_str (pk, len);
    msgpack_pack_str_body (pk, string, len);
}

zmsg_t *
ih_wire_event (const uint8_t *event, size_t size)
{
    assert (event || size == 0);
    zmsg_t *msg = s_msg ("EVENT");
    zmsg_addmem (msg, event, size);
    return msg;
}

zmsg_t *
ih_wire_ack (const char *site, uint64_t seq, uint64_t hub_seq)
{
    assert (site);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 3);
    s_pack_string (&pk, site, strlen (site));
    msgpack_pack_uint64 (&pk, seq);
    msgpack_pack_uint64 (&pk, hub_seq);
    zmsg_t *msg = s_msg ("ACK");
    s_add_sbuf (msg, &sbuf);
    return msg;
}

zmsg_t *
ih_wire_nak (ih_err_t code, const char *reason, const char *site, uint64_t seq,
             uint64_t expected)
{
    if (!reason)
        reason = ih_strerror (code);
    //  Cut an over-long reason at a UTF-8 character boundary
    size_t len = strlen (reason);
    if (len > IH_WIRE_REASON_MAX) {
        len = IH_WIRE_REASON_MAX;
        while (len > 0 && ((uint8_t) reason[len] & 0xc0) == 0x80)
            len--;
    }
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 5);
    msgpack_pack_uint64 (&pk, (uint64_t) code);
    s_pack_string (&pk, reason, len);
    //  A site that is not a valid name (e.g. the one a BADNAME NAK is
    //  about) is not echoed back: the receiver could not accept it.
    if (site && ih_event_name_valid (site))
        s_pack_string (&pk, site, strlen (site));
    else
        msgpack_pack_nil (&pk);
    msgpack_pack_uint64 (&pk, seq);
    msgpack_pack_uint64 (&pk, expected);
    zmsg_t *msg = s_msg ("NAK");
    s_add_sbuf (msg, &sbuf);
    return msg;
}

zmsg_t *
ih_wire_status_request (void)
{
    return s_msg ("STATUS");
}

zmsg_t *
ih_wire_status_reply (const char *json)
{
    assert (json);
    zmsg_t *msg = s_msg ("STATUS");
    zmsg_addmem (msg, json, strlen (json));
    return msg;
}

zmsg_t *
ih_wire_publish (const char *type, const uint8_t *data, size_t size)
{
    assert (type);
    assert (data || size == 0);
    zmsg_t *msg = s_msg ("PUBLISH");
    zmsg_addstr (msg, type);
    zmsg_addmem (msg, data, size);
    return msg;
}

zmsg_t *
ih_wire_publish_tagged (const char *type, const uint8_t *data, size_t size,
                        const uint8_t *tag, size_t tag_size)
{
    zmsg_t *msg = ih_wire_publish (type, data, size);
    ih_wire_set_tag (msg, tag, tag_size);
    return msg;
}

void
ih_wire_set_tag (zmsg_t *reply, const uint8_t *tag, size_t size)
{
    assert (reply);
    assert (size <= IH_WIRE_TAG_MAX);
    if (tag && size > 0)
        zmsg_addmem (reply, tag, size);
}

zmsg_t *
ih_wire_confirm (const char *site, uint64_t seq)
{
    assert (site);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 2);
    s_pack_string (&pk, site, strlen (site));
    msgpack_pack_uint64 (&pk, seq);
    zmsg_t *msg = s_msg ("CONFIRM");
    s_add_sbuf (msg, &sbuf);
    return msg;
}

zmsg_t *
ih_wire_pub (const char *district, const char *site, const char *type,
             uint64_t hub_seq, uint64_t received, const uint8_t *event,
             size_t size)
{
    assert (district && site && type);
    assert (event || size == 0);
    zmsg_t *msg = zmsg_new ();
    assert (msg);
    zmsg_addstrf (msg, "%s/%s/%s/", district, site, type);
    uint8_t be[8];
    ih_record_put_u64 (be, hub_seq);
    zmsg_addmem (msg, be, 8);
    ih_record_put_u64 (be, received);
    zmsg_addmem (msg, be, 8);
    zmsg_addmem (msg, event, size);
    return msg;
}

//  --------------------------------------------------------------------------
//  Replay service builders

//  A message of command and one msgpack array of count uints.
static zmsg_t *
s_uints (const char *command, size_t count, const uint64_t *values)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, count);
    for (size_t i = 0; i < count; i++)
        msgpack_pack_uint64 (&pk, values[i]);
    zmsg_t *msg = s_msg (command);
    s_add_sbuf (msg, &sbuf);
    return msg;
}

//  A filter: nil for "any", else the name.
static void
s_pack_filter (msgpack_packer *pk, const char *name)
{
    if (name && *name) {
        assert (ih_event_name_valid (name));
        s_pack_string (pk, name, strlen (name));
    } else
        msgpack_pack_nil (pk);
}

zmsg_t *
ih_wire_replay (uint64_t from, uint64_t from_time, uint64_t to,
                const char *district, const char *site, const char *type,
                uint64_t credit)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 7);
    msgpack_pack_uint64 (&pk, from);
    msgpack_pack_uint64 (&pk, from_time);
    msgpack_pack_uint64 (&pk, to);
    s_pack_filter (&pk, district);
    s_pack_filter (&pk, site);
    s_pack_filter (&pk, type);
    msgpack_pack_uint64 (&pk, credit);
    zmsg_t *msg = s_msg ("REPLAY");
    s_add_sbuf (msg, &sbuf);
    return msg;
}

zmsg_t *
ih_wire_credit (uint64_t credit)
{
    return s_uints ("CREDIT", 1, &credit);
}

zmsg_t *
ih_wire_record (uint64_t hub_seq, uint64_t received, const char *district,
                const uint8_t *event, size_t size)
{
    assert (district);
    assert (event || size == 0);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_array (&pk, 3);
    msgpack_pack_uint64 (&pk, hub_seq);
    msgpack_pack_uint64 (&pk, received);
    s_pack_string (&pk, district, strlen (district));
    zmsg_t *msg = s_msg ("RECORD");
    s_add_sbuf (msg, &sbuf);
    zmsg_addmem (msg, event, size);
    return msg;
}

zmsg_t *
ih_wire_end (uint64_t last)
{
    return s_uints ("END", 1, &last);
}

zmsg_t *
ih_wire_checkpoint_request (uint64_t size)
{
    return s_uints ("CHECKPOINT", 1, &size);
}

zmsg_t *
ih_wire_prove_inclusion (uint64_t hub_seq, uint64_t size)
{
    uint64_t values[2] = {hub_seq, size};
    return s_uints ("PROVE-INCLUSION", 2, values);
}

zmsg_t *
ih_wire_prove_consistency (uint64_t old_size, uint64_t new_size)
{
    uint64_t values[2] = {old_size, new_size};
    return s_uints ("PROVE-CONSISTENCY", 2, values);
}

zmsg_t *
ih_wire_signed_checkpoint (const uint8_t *checkpoint, size_t size)
{
    assert (checkpoint || size == 0);
    zmsg_t *msg = s_msg ("SIGNED-CHECKPOINT");
    zmsg_addmem (msg, checkpoint, size);
    return msg;
}

zmsg_t *
ih_wire_inclusion (uint64_t hub_seq, uint64_t size, const uint8_t *record,
                   size_t record_size, const uint8_t *path, size_t path_len,
                   const uint8_t *checkpoint, size_t checkpoint_size)
{
    assert (record || record_size == 0);
    assert (path || path_len == 0);
    assert (checkpoint || checkpoint_size == 0);
    uint64_t values[2] = {hub_seq, size};
    zmsg_t *msg = s_uints ("INCLUSION-PROOF", 2, values);
    zmsg_addmem (msg, record, record_size);
    zmsg_addmem (msg, path, path_len * IH_WIRE_HASH);
    zmsg_addmem (msg, checkpoint, checkpoint_size);
    return msg;
}

zmsg_t *
ih_wire_consistency (const uint8_t *old_cp, size_t old_cp_size,
                     const uint8_t *new_cp, size_t new_cp_size,
                     const uint8_t *proof, size_t proof_len)
{
    assert (old_cp || old_cp_size == 0);
    assert (new_cp || new_cp_size == 0);
    assert (proof || proof_len == 0);
    zmsg_t *msg = s_msg ("CONSISTENCY-PROOF");
    zmsg_addmem (msg, old_cp, old_cp_size);
    zmsg_addmem (msg, new_cp, new_cp_size);
    zmsg_addmem (msg, proof, proof_len * IH_WIRE_HASH);
    return msg;
}

//  --------------------------------------------------------------------------
//  Topics

void
ih_wire_topic_prefix (const char *district, const char *site, const char *type,
                      char *topic)
{
    assert (topic);
    topic[0] = 0;
    if (!district || !*district)
        return;
    size_t max = S_TOPIC_MAX + 1;
    if (!site || !*site)
        snprintf (topic, max, "%s/", district);
    else if (!type || !*type)
        snprintf (topic, max, "%s/%s/", district, site);
    else
        snprintf (topic, max, "%s/%s/%s/", district, site, type);
}

//  Splits "d/s/t/" into its three names. Errors: IH_E_TOOBIG (longer than
//  the longest topic or a name too long), IH_E_MALFORMED (not three names
//  each followed by '/'), IH_E_BADNAME.
static ih_err_t
s_topic_split (const char *topic, size_t size, char names[3][IH_NAME_MAX + 1])
{
    if (size > S_TOPIC_MAX)
        return IH_E_TOOBIG;
    if (!topic || size == 0)
        return IH_E_MALFORMED;
    size_t pos = 0;
    for (int i = 0; i < 3; i++) {
        const char *slash = memchr (topic + pos, '/', size - pos);
        if (!slash)
            return IH_E_MALFORMED;
        size_t len = (size_t) (slash - (topic + pos));
        if (len > IH_NAME_MAX)
            return IH_E_TOOBIG;
        memcpy (names[i], topic + pos, len);
        names[i][len] = 0;
        if (strlen (names[i]) != len || !ih_event_name_valid (names[i]))
            return IH_E_BADNAME;
        pos += len + 1;
    }
    return pos == size ? IH_OK : IH_E_MALFORMED;
}

bool
ih_wire_topic_match (const char *topic, const char *district, const char *site,
                     const char *type)
{
    if (!topic)
        return false;
    char names[3][IH_NAME_MAX + 1];
    if (s_topic_split (topic, strlen (topic), names))
        return false;
    const char *filters[3] = {district, site, type};
    for (int i = 0; i < 3; i++)
        if (filters[i] && *filters[i] && !streq (filters[i], names[i]))
            return false;
    return true;
}

//  --------------------------------------------------------------------------
//  Decoding

//  Unpacks a frame that must hold exactly one msgpack array of count
//  elements (count >= 1) into *u.
static ih_err_t
s_unpack_array (zframe_t *frame, uint32_t count, msgpack_unpacked *u)
{
    const uint8_t *bytes = zframe_data (frame);
    size_t size = zframe_size (frame);
    uint32_t have;
    size_t header;
    ih_err_t rc =
        ih_msgpack_fields (bytes, size, IH_MSGPACK_DEPTH, &have, &header);
    if (rc)
        return rc;
    if (have < count)
        return IH_E_MISSING;
    if (have > count)
        return IH_E_TRAILING;
    size_t off = 0;
    if (ih_msgpack_next (u, bytes, size, &off))
        return IH_E_MALFORMED; //  cannot happen after the check above
    return IH_OK;
}

//  A site name; with allow_empty, nil and "" give "".
static ih_err_t
s_get_name (const msgpack_object *o, char *out, bool allow_empty)
{
    out[0] = 0;
    if (allow_empty &&
        (o->type == MSGPACK_OBJECT_NIL ||
         (o->type == MSGPACK_OBJECT_STR && o->via.str.size == 0)))
        return IH_OK;
    return ih_msgpack_name (o, out);
}

static ih_err_t
s_decode_ack (zframe_t *body, ih_wire_t *wire)
{
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    ih_err_t rc = s_unpack_array (body, 3, &u);
    if (rc == IH_OK) {
        msgpack_object *f = u.data.via.array.ptr;
        rc = s_get_name (&f[0], wire->site, false);
        if (!rc)
            rc = ih_msgpack_uint (&f[1], &wire->seq);
        if (!rc)
            rc = ih_msgpack_uint (&f[2], &wire->hub_seq);
    }
    msgpack_unpacked_destroy (&u);
    return rc;
}

static ih_err_t
s_decode_confirm (zframe_t *body, ih_wire_t *wire)
{
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    ih_err_t rc = s_unpack_array (body, 2, &u);
    if (rc == IH_OK) {
        msgpack_object *f = u.data.via.array.ptr;
        rc = s_get_name (&f[0], wire->site, false);
        if (!rc)
            rc = ih_msgpack_uint (&f[1], &wire->seq);
    }
    msgpack_unpacked_destroy (&u);
    return rc;
}

static ih_err_t
s_decode_nak (zframe_t *body, ih_wire_t *wire)
{
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    ih_err_t rc = s_unpack_array (body, 5, &u);
    if (rc)
        goto cleanup;
    msgpack_object *f = u.data.via.array.ptr;
    uint64_t code;
    rc = ih_msgpack_uint (&f[0], &code);
    if (rc)
        goto cleanup;
    //  Codes unknown to this build are kept (a newer peer may send them);
    //  0 is not an error and cannot be a NAK.
    if (code == 0) {
        rc = IH_E_MALFORMED;
        goto cleanup;
    }
    if (code > 0xffff) {
        rc = IH_E_TOOBIG;
        goto cleanup;
    }
    wire->code = (ih_err_t) code;
    if (f[1].type != MSGPACK_OBJECT_STR) {
        rc = IH_E_TYPE;
        goto cleanup;
    }
    uint32_t len = f[1].via.str.size;
    if (len > IH_WIRE_REASON_MAX) {
        rc = IH_E_TOOBIG;
        goto cleanup;
    }
    if (len)
        memcpy (wire->reason, f[1].via.str.ptr, len);
    wire->reason[len] = 0;
    if (strlen (wire->reason) != len) {
        rc = IH_E_MALFORMED; //  embedded NUL
        goto cleanup;
    }
    rc = s_get_name (&f[2], wire->site, true);
    if (!rc)
        rc = ih_msgpack_uint (&f[3], &wire->seq);
    if (!rc)
        rc = ih_msgpack_uint (&f[4], &wire->expected);
cleanup:
    msgpack_unpacked_destroy (&u);
    return rc;
}

static ih_err_t
s_decode_publish (zframe_t *type, zframe_t *data, ih_wire_t *wire)
{
    size_t len = zframe_size (type);
    if (len > IH_NAME_MAX)
        return IH_E_TOOBIG;
    if (len)
        memcpy (wire->type, zframe_data (type), len);
    wire->type[len] = 0;
    if (strlen (wire->type) != len || !ih_event_name_valid (wire->type))
        return IH_E_BADNAME;
    const uint8_t *bytes = zframe_data (data);
    size_t size = zframe_size (data);
    if (size > IH_EVENT_MAX)
        return IH_E_TOOBIG;
    size_t used = 0;
    ih_err_t rc = ih_msgpack_check (bytes, size, IH_MSGPACK_DEPTH, &used);
    if (rc)
        return rc;
    if (used != size)
        return IH_E_TRAILING;
    if (!ih_msgpack_is_map (bytes, size))
        return IH_E_TYPE;
    wire->data = bytes;
    wire->data_size = size;
    return IH_OK;
}

static ih_err_t s_event_frame (zframe_t *frame, ih_wire_t *wire);

//  A body of exactly count uints into values.
static ih_err_t
s_decode_uints (zframe_t *body, uint32_t count, uint64_t *values)
{
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    ih_err_t rc = s_unpack_array (body, count, &u);
    for (uint32_t i = 0; rc == IH_OK && i < count; i++)
        rc = ih_msgpack_uint (&u.data.via.array.ptr[i], &values[i]);
    msgpack_unpacked_destroy (&u);
    return rc;
}

//  REPLAY = [from, from_time, to, district|nil, site|nil, type|nil, credit]
static ih_err_t
s_decode_replay (zframe_t *body, ih_wire_t *wire)
{
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    ih_err_t rc = s_unpack_array (body, 7, &u);
    if (rc == IH_OK) {
        msgpack_object *f = u.data.via.array.ptr;
        rc = ih_msgpack_uint (&f[0], &wire->from);
        if (!rc)
            rc = ih_msgpack_uint (&f[1], &wire->from_time);
        if (!rc)
            rc = ih_msgpack_uint (&f[2], &wire->to);
        if (!rc)
            rc = s_get_name (&f[3], wire->district, true);
        if (!rc)
            rc = s_get_name (&f[4], wire->site, true);
        if (!rc)
            rc = s_get_name (&f[5], wire->type, true);
        if (!rc)
            rc = ih_msgpack_uint (&f[6], &wire->credit);
        //  One starting point only
        if (!rc && wire->from && wire->from_time)
            rc = IH_E_MALFORMED;
    }
    msgpack_unpacked_destroy (&u);
    return rc;
}

//  RECORD = [hub_seq, received, district] + the signed event frame.
static ih_err_t
s_decode_record (zframe_t *body, zframe_t *event, ih_wire_t *wire)
{
    msgpack_unpacked u;
    msgpack_unpacked_init (&u);
    ih_err_t rc = s_unpack_array (body, 3, &u);
    if (rc == IH_OK) {
        msgpack_object *f = u.data.via.array.ptr;
        rc = ih_msgpack_uint (&f[0], &wire->hub_seq);
        if (!rc)
            rc = ih_msgpack_uint (&f[1], &wire->received);
        if (!rc)
            rc = s_get_name (&f[2], wire->district, false);
        if (!rc && wire->hub_seq == 0)
            rc = IH_E_MALFORMED;
    }
    msgpack_unpacked_destroy (&u);
    if (!rc)
        rc = s_event_frame (event, wire);
    return rc;
}

//  A signed checkpoint frame: shape only (ih_checkpoint decodes it).
static ih_err_t
s_checkpoint_frame (zframe_t *frame, const uint8_t **bytes_p, size_t *size_p)
{
    size_t size = zframe_size (frame);
    if (size > IH_WIRE_CHECKPOINT_MAX)
        return IH_E_TOOBIG;
    if (size <= 64)
        return IH_E_MALFORMED; //  no room for a signature and a body
    *bytes_p = zframe_data (frame);
    *size_p = size;
    return IH_OK;
}

//  A proof frame: whole hashes, at most max of them (may be empty).
static ih_err_t
s_proof_frame (zframe_t *frame, size_t max, ih_wire_t *wire)
{
    size_t size = zframe_size (frame);
    if (size > max * IH_WIRE_HASH)
        return IH_E_TOOBIG;
    if (size % IH_WIRE_HASH)
        return IH_E_MALFORMED;
    wire->proof = size ? zframe_data (frame) : NULL;
    wire->proof_size = size;
    return IH_OK;
}

//  INCLUSION-PROOF = [hub_seq, size] + record + path + checkpoint.
static ih_err_t
s_decode_inclusion (zmsg_t *msg, zframe_t *body, ih_wire_t *wire)
{
    uint64_t values[2] = {0, 0};
    ih_err_t rc = s_decode_uints (body, 2, values);
    if (rc)
        return rc;
    wire->hub_seq = values[0];
    wire->size = values[1];
    if (wire->hub_seq == 0 || wire->hub_seq > wire->size)
        return IH_E_MALFORMED;
    zframe_t *record = zmsg_next (msg);
    size_t size = zframe_size (record);
    if (size > IH_RECORD_HEADER + IH_EVENT_MAX)
        return IH_E_TOOBIG;
    if (size <= IH_RECORD_HEADER)
        return IH_E_MALFORMED;
    wire->record = zframe_data (record);
    wire->record_size = size;
    rc = s_proof_frame (zmsg_next (msg), IH_WIRE_PATH_MAX, wire);
    if (!rc)
        rc = s_checkpoint_frame (zmsg_next (msg), &wire->checkpoint,
                                 &wire->checkpoint_size);
    return rc;
}

//  CONSISTENCY-PROOF = old checkpoint + new checkpoint + proof.
static ih_err_t
s_decode_consistency (zmsg_t *msg, zframe_t *old_cp, ih_wire_t *wire)
{
    ih_err_t rc =
        s_checkpoint_frame (old_cp, &wire->checkpoint, &wire->checkpoint_size);
    if (!rc)
        rc = s_checkpoint_frame (zmsg_next (msg), &wire->checkpoint_new,
                                 &wire->checkpoint_new_size);
    if (!rc)
        rc = s_proof_frame (zmsg_next (msg), IH_WIRE_CPROOF_MAX, wire);
    return rc;
}

//  The signed-event frame of EVENT and PUB: shape only.
static ih_err_t
s_event_frame (zframe_t *frame, ih_wire_t *wire)
{
    size_t size = zframe_size (frame);
    if (size > IH_EVENT_MAX)
        return IH_E_TOOBIG;
    if (size == 0)
        return IH_E_MALFORMED;
    wire->event = zframe_data (frame);
    wire->event_size = size;
    return IH_OK;
}

ih_err_t
ih_wire_decode (zmsg_t *msg, ih_wire_t *wire)
{
    assert (wire);
    memset (wire, 0, sizeof (*wire));
    if (!msg || zmsg_size (msg) == 0)
        return IH_E_FRAMES;
    if (zmsg_content_size (msg) > IH_WIRE_MAX)
        return IH_E_TOOBIG;
    zframe_t *command = zmsg_first (msg);
    size_t i;
    size_t count = sizeof (s_commands) / sizeof (s_commands[0]);
    for (i = 0; i < count; i++)
        if (zframe_streq (command, s_commands[i].name))
            break;
    if (i == count)
        return IH_E_COMMAND;
    size_t frames = zmsg_size (msg);
    if (frames < s_commands[i].frames_min || frames > s_commands[i].frames_max)
        return IH_E_FRAMES;
    //  The tag, if any, is the last frame; its own error is reported only
    //  after the body's (decoding order, see the top of this file).
    zframe_t *tag = NULL;
    ih_err_t tag_rc = IH_OK;
    if (s_commands[i].tagged && frames == s_commands[i].frames_max) {
        tag = zmsg_last (msg);
        if (zframe_size (tag) == 0)
            tag_rc = IH_E_MALFORMED;
        else if (zframe_size (tag) > IH_WIRE_TAG_MAX)
            tag_rc = IH_E_TOOBIG;
        zmsg_first (msg); //  back to the command frame
    }
    zframe_t *body = zmsg_next (msg);
    ih_err_t rc = IH_OK;
    switch (s_commands[i].kind) {
    case IH_WIRE_EVENT:
        rc = s_event_frame (body, wire);
        break;
    case IH_WIRE_ACK:
        rc = s_decode_ack (body, wire);
        break;
    case IH_WIRE_NAK:
        rc = s_decode_nak (body, wire);
        break;
    case IH_WIRE_STATUS:
        if (body) {
            //  A reply; an empty body would read as a request
            if (zframe_size (body) == 0)
                return IH_E_MALFORMED;
            wire->json = (const char *) zframe_data (body);
            wire->json_size = zframe_size (body);
        }
        break;
    case IH_WIRE_PUBLISH:
        rc = s_decode_publish (body, zmsg_next (msg), wire);
        break;
    case IH_WIRE_CONFIRM:
        rc = s_decode_confirm (body, wire);
        break;
    case IH_WIRE_REPLAY:
        rc = s_decode_replay (body, wire);
        break;
    case IH_WIRE_CREDIT:
        rc = s_decode_uints (body, 1, &wire->credit);
        if (!rc && wire->credit == 0)
            rc = IH_E_MALFORMED;
        break;
    case IH_WIRE_RECORD:
        rc = s_decode_record (body, zmsg_next (msg), wire);
        break;
    case IH_WIRE_END:
        rc = s_decode_uints (body, 1, &wire->last);
        break;
    case IH_WIRE_CHECKPOINT:
        rc = s_decode_uints (body, 1, &wire->size);
        break;
    case IH_WIRE_PROVE_INCLUSION: {
        uint64_t values[2] = {0, 0};
        rc = s_decode_uints (body, 2, values);
        wire->hub_seq = values[0];
        wire->size = values[1];
        if (!rc && wire->hub_seq == 0)
            rc = IH_E_MALFORMED;
        break;
    }
    case IH_WIRE_PROVE_CONSISTENCY: {
        uint64_t values[2] = {0, 0};
        rc = s_decode_uints (body, 2, values);
        wire->old_size = values[0];
        wire->new_size = values[1];
        break;
    }
    case IH_WIRE_SIGNED_CHECKPOINT:
        rc = s_checkpoint_frame (body, &wire->checkpoint,
                                 &wire->checkpoint_size);
        break;
    case IH_WIRE_INCLUSION:
        rc = s_decode_inclusion (msg, body, wire);
        break;
    case IH_WIRE_CONSISTENCY:
        rc = s_decode_consistency (msg, body, wire);
        break;
    default:
        assert (false);
    }
    if (!rc)
        rc = tag_rc;
    if (rc) {
        //  Leave no half-filled view behind, but keep a valid tag so the
        //  NAK for this request can still be matched by the client.
        memset (wire, 0, sizeof (*wire));
        if (tag && !tag_rc) {
            wire->tag = zframe_data (tag);
            wire->tag_size = zframe_size (tag);
        }
        return rc;
    }
    if (tag) {
        wire->tag = zframe_data (tag);
        wire->tag_size = zframe_size (tag);
    }
    wire->kind = s_commands[i].kind;
    return IH_OK;
}

ih_err_t
ih_wire_decode_pub (zmsg_t *msg, ih_wire_t *wire)
{
    assert (wire);
    memset (wire, 0, sizeof (*wire));
    if (!msg || zmsg_size (msg) != 4)
        return IH_E_FRAMES;
    if (zmsg_content_size (msg) > IH_WIRE_MAX)
        return IH_E_TOOBIG;
    zframe_t *topic = zmsg_first (msg);
    zframe_t *hub_seq = zmsg_next (msg);
    zframe_t *received = zmsg_next (msg);
    zframe_t *event = zmsg_next (msg);
    char names[3][IH_NAME_MAX + 1];
    ih_err_t rc = s_topic_split ((const char *) zframe_data (topic),
                                 zframe_size (topic), names);
    if (!rc && (zframe_size (hub_seq) != 8 || zframe_size (received) != 8))
        rc = IH_E_MALFORMED;
    if (!rc)
        rc = s_event_frame (event, wire);
    if (rc) {
        memset (wire, 0, sizeof (*wire));
        return rc;
    }
    wire->kind = IH_WIRE_PUB;
    if (zframe_size (topic))
        memcpy (wire->topic, zframe_data (topic), zframe_size (topic));
    wire->topic[zframe_size (topic)] = 0;
    strcpy (wire->site, names[1]);
    strcpy (wire->type, names[2]);
    wire->hub_seq = ih_record_get_u64 (zframe_data (hub_seq));
    wire->received = ih_record_get_u64 (zframe_data (received));
    return IH_OK;
}

//  --------------------------------------------------------------------------
//  Selftest

//  Builds a message from a command and one body frame given in hex.
static zmsg_t *
s_msg_hex (const char *command, const char *hex)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, command);
    uint8_t buf[512];
    size_t len = 0;
    ih_check (sodium_hex2bin (buf, sizeof (buf), hex, strlen (hex), " ", &len,
                              NULL) == 0);
    zmsg_addmem (msg, buf, len);
    return msg;
}

static ih_err_t
s_decode_hex (const char *command, const char *hex)
{
    zmsg_t *msg = s_msg_hex (command, hex);
    ih_wire_t wire;
    ih_err_t rc = ih_wire_decode (msg, &wire);
    zmsg_destroy (&msg);
    return rc;
}

static ih_err_t
s_decode_frames (const char *f1, const char *f2, const char *f3, const char *f4)
{
    zmsg_t *msg = zmsg_new ();
    const char *frames[] = {f1, f2, f3, f4};
    for (int i = 0; i < 4; i++)
        if (frames[i])
            zmsg_addstr (msg, frames[i]);
    ih_wire_t wire;
    ih_err_t rc = ih_wire_decode (msg, &wire);
    zmsg_destroy (&msg);
    return rc;
}

//  Reads a fixture file into a new frame.
static zframe_t *
s_fixture_frame (const char *name)
{
    const char *dir = getenv ("IH_FIXTURES");
    if (!dir)
        dir = "tests/fixtures";
    char *path = zsys_sprintf ("%s/%s", dir, name);
    FILE *file = fopen (path, "rb");
    if (!file)
        fprintf (stderr,
                 "ih_wire_test: missing fixture %s (set "
                 "IH_FIXTURES)\n",
                 path);
    ih_check (file);
    uint8_t buf[4096];
    size_t size = fread (buf, 1, sizeof (buf), file);
    fclose (file);
    zstr_free (&path);
    return zframe_new (buf, size);
}

void
ih_wire_test (bool verbose)
{
    if (verbose)
        printf (" * ih_wire: ");
    ih_wire_t wire;

    //  EVENT round trip
    const uint8_t event[] = {1, 2, 3};
    zmsg_t *msg = ih_wire_event (event, sizeof (event));
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_EVENT);
    ih_check (wire.event_size == 3 && memcmp (wire.event, event, 3) == 0);
    zmsg_destroy (&msg);
    msg = ih_wire_event (event, 0);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_MALFORMED);
    zmsg_destroy (&msg);
    uint8_t *big = (uint8_t *) zmalloc (IH_WIRE_MAX + 1);
    msg = ih_wire_event (big, IH_EVENT_MAX + 1);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_TOOBIG);
    zmsg_destroy (&msg);
    msg = ih_wire_event (big, IH_WIRE_MAX);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_TOOBIG);
    zmsg_destroy (&msg);
    msg = ih_wire_event (big, IH_EVENT_MAX);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    zmsg_destroy (&msg);

    //  ACK round trip
    msg = ih_wire_ack ("lh-inc-01", 42, 1000000);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_ACK);
    ih_check (streq (wire.site, "lh-inc-01"));
    ih_check (wire.seq == 42 && wire.hub_seq == 1000000);
    zmsg_destroy (&msg);

    //  NAK round trips: with site, without, default reason, long reason
    msg = ih_wire_nak (IH_E_GAP, "expected 41", "lh-inc-01", 42, 41);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_NAK && wire.code == IH_E_GAP);
    ih_check (streq (wire.reason, "expected 41"));
    ih_check (streq (wire.site, "lh-inc-01"));
    ih_check (wire.seq == 42 && wire.expected == 41);
    zmsg_destroy (&msg);
    msg = ih_wire_nak (IH_E_MALFORMED, NULL, NULL, 0, 0);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.code == IH_E_MALFORMED);
    ih_check (streq (wire.reason, ih_strerror (IH_E_MALFORMED)));
    ih_check (streq (wire.site, "") && wire.seq == 0);
    zmsg_destroy (&msg);
    msg = ih_wire_nak (IH_E_BADNAME, NULL, "Bad Site", 1, 0);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (streq (wire.site, ""));
    zmsg_destroy (&msg);
    char reason[400];
    memset (reason, 'r', sizeof (reason));
    reason[sizeof (reason) - 1] = 0;
    //  A two-byte character straddling the cut is dropped whole
    reason[IH_WIRE_REASON_MAX - 1] = (char) 0xc3;
    reason[IH_WIRE_REASON_MAX] = (char) 0xa9;
    msg = ih_wire_nak (IH_E_STORE, reason, "", 0, 0);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (strlen (wire.reason) == IH_WIRE_REASON_MAX - 1);
    zmsg_destroy (&msg);

    //  STATUS request and reply
    msg = ih_wire_status_request ();
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_STATUS && wire.json_size == 0);
    zmsg_destroy (&msg);
    msg = ih_wire_status_reply ("{\"ok\":true}");
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_STATUS && wire.json_size == 11);
    ih_check (memcmp (wire.json, "{\"ok\":true}", 11) == 0);
    zmsg_destroy (&msg);
    ih_check (s_decode_frames ("STATUS", "", NULL, NULL) == IH_E_MALFORMED);
    ih_check (s_decode_frames ("STATUS", "{}", "{}", NULL) == IH_E_FRAMES);

    //  PUBLISH
    const uint8_t map[] = {0x81, 0xa1, 'k', 0x01};
    msg = ih_wire_publish ("door.open", map, sizeof (map));
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_PUBLISH && streq (wire.type, "door.open"));
    ih_check (wire.data_size == 4 && memcmp (wire.data, map, 4) == 0);
    zmsg_destroy (&msg);
    const uint8_t not_map[] = {0x91, 0x01};
    const uint8_t two_maps[] = {0x80, 0x80};
    const uint8_t cut_map[] = {0x81, 0xa1};
    const uint8_t deep[40] = {0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
                              0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
                              0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
                              0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
                              0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xc0};
    struct {
        const char *type;
        const uint8_t *data;
        size_t size;
        ih_err_t expect;
    } pubs[] = {
        {"t", not_map, sizeof (not_map), IH_E_TYPE},
        {"t", two_maps, sizeof (two_maps), IH_E_TRAILING},
        {"t", cut_map, sizeof (cut_map), IH_E_MALFORMED},
        {"t", map, 0, IH_E_MALFORMED},
        {"t", deep, sizeof (deep), IH_E_TOOBIG},
        {"", map, sizeof (map), IH_E_BADNAME},
        {"Door", map, sizeof (map), IH_E_BADNAME},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         map, sizeof (map), IH_E_TOOBIG},
        {"t", big, IH_EVENT_MAX + 1, IH_E_TOOBIG},
    };
    for (size_t i = 0; i < sizeof (pubs) / sizeof (pubs[0]); i++) {
        msg = ih_wire_publish (pubs[i].type, pubs[i].data, pubs[i].size);
        ih_err_t rc = ih_wire_decode (msg, &wire);
        if (rc != pubs[i].expect)
            fprintf (stderr, "publish case %zu: got %s\n", i, ih_err_name (rc));
        ih_check (rc == pubs[i].expect);
        zmsg_destroy (&msg);
    }
    //  A type frame with an embedded NUL
    msg = zmsg_new ();
    zmsg_addstr (msg, "PUBLISH");
    zmsg_addmem (msg, "a\0b", 3);
    zmsg_addmem (msg, map, sizeof (map));
    ih_check (ih_wire_decode (msg, &wire) == IH_E_BADNAME);
    zmsg_destroy (&msg);
    free (big);

    //  CONFIRM
    msg = ih_wire_confirm ("lh-inc-01", 7);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_CONFIRM && streq (wire.site, "lh-inc-01"));
    ih_check (wire.seq == 7);
    zmsg_destroy (&msg);

    //  Request tags: PUBLISH carries one, CONFIRM and NAK echo it
    const uint8_t tag8[8] = {0, 0, 0, 0, 0, 0, 0x01, 0x02};
    msg = ih_wire_publish_tagged ("door.open", map, sizeof (map), tag8, 8);
    ih_check (zmsg_size (msg) == 4);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_PUBLISH && streq (wire.type, "door.open"));
    ih_check (wire.data_size == 4 && memcmp (wire.data, map, 4) == 0);
    ih_check (wire.tag_size == 8 && memcmp (wire.tag, tag8, 8) == 0);
    zmsg_destroy (&msg);
    msg = ih_wire_publish_tagged ("door.open", map, sizeof (map), NULL, 0);
    ih_check (zmsg_size (msg) == 3);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.tag == NULL && wire.tag_size == 0);
    zmsg_destroy (&msg);
    msg = ih_wire_publish ("door.open", map, sizeof (map));
    ih_check (ih_wire_decode (msg, &wire) == IH_OK && wire.tag == NULL);
    zmsg_destroy (&msg);
    msg = ih_wire_confirm ("lh-inc-01", 9);
    ih_wire_set_tag (msg, tag8, 8);
    ih_check (zmsg_size (msg) == 3);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_CONFIRM && wire.seq == 9);
    ih_check (wire.tag_size == 8 && memcmp (wire.tag, tag8, 8) == 0);
    zmsg_destroy (&msg);
    msg = ih_wire_nak (IH_E_FULL, NULL, "lh-inc-01", 0, 0);
    ih_wire_set_tag (msg, tag8, 1);
    ih_wire_set_tag (msg, NULL, 0); //  no-op
    ih_check (zmsg_size (msg) == 3);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_NAK && wire.code == IH_E_FULL);
    ih_check (wire.tag_size == 1 && wire.tag[0] == 0);
    zmsg_destroy (&msg);
    //  Largest tag accepted; empty or over-long tags refused
    uint8_t tag_big[IH_WIRE_TAG_MAX + 1];
    memset (tag_big, 0xab, sizeof (tag_big));
    msg = ih_wire_publish_tagged ("t", map, sizeof (map), tag_big,
                                  IH_WIRE_TAG_MAX);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.tag_size == IH_WIRE_TAG_MAX);
    zmsg_destroy (&msg);
    const char *tagged[] = {"PUBLISH", "CONFIRM", "NAK"};
    for (size_t i = 0; i < 3; i++) {
        for (int variant = 0; variant < 2; variant++) {
            if (streq (tagged[i], "PUBLISH"))
                msg = ih_wire_publish ("t", map, sizeof (map));
            else if (streq (tagged[i], "CONFIRM"))
                msg = ih_wire_confirm ("lh-inc-01", 1);
            else
                msg = ih_wire_nak (IH_E_STORE, NULL, NULL, 0, 0);
            zmsg_addmem (msg, tag_big, variant ? sizeof (tag_big) : 0);
            ih_err_t rc = ih_wire_decode (msg, &wire);
            ih_check (rc == (variant ? IH_E_TOOBIG : IH_E_MALFORMED));
            ih_check (wire.tag == NULL && wire.kind == 0);
            zmsg_destroy (&msg);
        }
    }
    //  A body error wins over a tag error; a valid tag survives a body
    //  error so the NAK can echo it
    msg = ih_wire_publish_tagged ("Bad Type", map, sizeof (map), tag8, 8);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_BADNAME);
    ih_check (wire.kind == 0 && wire.tag_size == 8);
    ih_check (memcmp (wire.tag, tag8, 8) == 0);
    zmsg_destroy (&msg);
    msg = ih_wire_publish ("t", not_map, sizeof (not_map));
    zmsg_addmem (msg, "", 0);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_TYPE);
    zmsg_destroy (&msg);
    //  Five PUBLISH frames, three ACK or EVENT frames: still wrong
    msg = ih_wire_publish_tagged ("t", map, sizeof (map), tag8, 8);
    zmsg_addmem (msg, tag8, 8);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_FRAMES);
    zmsg_destroy (&msg);
    msg = ih_wire_ack ("lh-inc-01", 1, 1);
    zmsg_addmem (msg, tag8, 8);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_FRAMES);
    zmsg_destroy (&msg);

    //  Frames and commands
    ih_check (ih_wire_decode (NULL, &wire) == IH_E_FRAMES);
    msg = zmsg_new ();
    ih_check (ih_wire_decode (msg, &wire) == IH_E_FRAMES);
    zmsg_destroy (&msg);
    ih_check (s_decode_frames ("EVENT", NULL, NULL, NULL) == IH_E_FRAMES);
    ih_check (s_decode_frames ("EVENT", "a", "b", NULL) == IH_E_FRAMES);
    ih_check (s_decode_frames ("ACK", NULL, NULL, NULL) == IH_E_FRAMES);
    ih_check (s_decode_frames ("NAK", "a", "b", "c") == IH_E_FRAMES);
    ih_check (s_decode_frames ("PUBLISH", "t", NULL, NULL) == IH_E_FRAMES);
    ih_check (s_decode_frames ("CONFIRM", NULL, NULL, NULL) == IH_E_FRAMES);
    ih_check (s_decode_frames ("CONFIRM", "a", "b", "c") == IH_E_FRAMES);
    ih_check (s_decode_frames ("ACK", "a", "b", NULL) == IH_E_FRAMES);
    ih_check (s_decode_frames ("HELLO", "x", NULL, NULL) == IH_E_COMMAND);
    ih_check (s_decode_frames ("event", "x", NULL, NULL) == IH_E_COMMAND);
    ih_check (s_decode_frames ("", NULL, NULL, NULL) == IH_E_COMMAND);
    ih_check (s_decode_frames ("EVENTS", "x", NULL, NULL) == IH_E_COMMAND);
    ih_check (s_decode_frames ("a/b/c/", "x", "y", "z") == IH_E_COMMAND);

    //  Body errors (hex), ACK = [site, seq, hub_seq]
    struct {
        const char *command;
        const char *hex;
        ih_err_t expect;
    } bodies[] = {
        {"ACK", "93 a1 61 01 02", IH_OK},
        {"ACK", "93 a1 61 cd0001 ce00000002", IH_OK}, //  not canonical: ok
        {"ACK", "", IH_E_MALFORMED},
        {"ACK", "93 a1 61 01", IH_E_MALFORMED}, //  truncated
        {"ACK", "c1", IH_E_MALFORMED},
        {"ACK", "81 a1 61 01", IH_E_MALFORMED}, //  a map
        {"ACK", "93 a1 61 01 02 c0", IH_E_TRAILING},
        {"ACK", "94 a1 61 01 02 03", IH_E_TRAILING},
        {"ACK", "92 a1 61 01", IH_E_MISSING},
        {"ACK", "90", IH_E_MISSING},
        {"ACK", "93 01 01 02", IH_E_TYPE},
        {"ACK", "93 a1 61 ff 02", IH_E_TYPE}, //  negative seq
        {"ACK", "93 a1 61 01 a1 32", IH_E_TYPE},
        {"ACK", "93 a1 61 01 91 02", IH_E_TYPE},
        {"ACK", "93 a1 41 01 02", IH_E_BADNAME},
        {"ACK", "93 a0 01 02", IH_E_BADNAME},
        {"ACK", "93 c0 01 02", IH_E_TYPE},
        {"ACK", "ddffffffff", IH_E_MALFORMED}, //  huge count
        //  NAK = [code, reason, site|nil, seq, expected]
        {"NAK", "95 07 a3 676170 a1 61 02 01", IH_OK},
        {"NAK", "95 07 a0 c0 00 00", IH_OK},
        {"NAK", "95 07 a0 a0 00 00", IH_OK},
        {"NAK", "95 cd0fff a0 c0 00 00", IH_OK},      //  future code
        {"NAK", "95 00 a0 c0 00 00", IH_E_MALFORMED}, //  code 0
        {"NAK", "95 ce00010000 a0 c0 00 00", IH_E_TOOBIG},
        {"NAK", "95 ff a0 c0 00 00", IH_E_TYPE},
        {"NAK", "95 07 c0 c0 00 00", IH_E_TYPE},             //  nil reason
        {"NAK", "95 07 a3 610062 c0 00 00", IH_E_MALFORMED}, //  NUL
        {"NAK", "95 07 a0 07 00 00", IH_E_TYPE},             //  int site
        {"NAK", "95 07 a0 a1 2f 00 00", IH_E_BADNAME},
        {"NAK", "95 07 a0 c0 c2 00", IH_E_TYPE},
        {"NAK", "95 07 a0 c0 00 c3", IH_E_TYPE},
        {"NAK", "94 07 a0 c0 00", IH_E_MISSING},
        {"NAK", "96 07 a0 c0 00 00 00", IH_E_TRAILING},
        //  CONFIRM = [site, seq]
        {"CONFIRM", "92 a1 61 01", IH_OK},
        {"CONFIRM", "91 a1 61", IH_E_MISSING},
        {"CONFIRM", "93 a1 61 01 01", IH_E_TRAILING},
        {"CONFIRM", "92 a1 61 a1 61", IH_E_TYPE},
        {"CONFIRM", "92 a3 2e2e", IH_E_MALFORMED}, //  str cut
        {"CONFIRM", "92 a2 2e2f 01", IH_E_BADNAME},
        {"CONFIRM", "92 a1 61", IH_E_MALFORMED},
    };
    for (size_t i = 0; i < sizeof (bodies) / sizeof (bodies[0]); i++) {
        ih_err_t rc = s_decode_hex (bodies[i].command, bodies[i].hex);
        if (rc != bodies[i].expect)
            fprintf (stderr, "body case %zu (%s %s): got %s\n", i,
                     bodies[i].command, bodies[i].hex, ih_err_name (rc));
        ih_check (rc == bodies[i].expect);
    }
    //  A 65-byte site name
    char hex[600] = "93 d941 ";
    for (int i = 0; i < 65; i++)
        strcat (hex, "61");
    strcat (hex, " 01 01");
    ih_check (s_decode_hex ("ACK", hex) == IH_E_TOOBIG);
    //  A 201-byte reason
    strcpy (hex, "95 07 d9c9 ");
    size_t hl = strlen (hex);
    for (int i = 0; i < 201; i++, hl += 2)
        memcpy (hex + hl, "61", 2);
    hex[hl] = 0;
    char *nak_hex = zsys_sprintf ("%s c0 00 00", hex);
    ih_check (s_decode_hex ("NAK", nak_hex) == IH_E_TOOBIG);
    zstr_free (&nak_hex);
    //  Truncated ACK body at every length
    msg = ih_wire_ack ("lh-inc-01", 300, 70000);
    zframe_t *body = zmsg_last (msg);
    for (size_t len = 0; len < zframe_size (body); len++) {
        zmsg_t *cut = zmsg_new ();
        zmsg_addstr (cut, "ACK");
        zmsg_addmem (cut, zframe_data (body), len);
        ih_check (ih_wire_decode (cut, &wire) == IH_E_MALFORMED);
        zmsg_destroy (&cut);
    }
    zmsg_destroy (&msg);

    //  Checked-in garbage bodies
    struct {
        const char *command;
        const char *file;
        ih_err_t expect;
    } fixtures[] = {
        {"ACK", "wire-garbage.bin", IH_E_MALFORMED},
        {"NAK", "wire-garbage.bin", IH_E_MALFORMED},
        {"CONFIRM", "wire-garbage.bin", IH_E_MALFORMED},
        {"ACK", "wire-ack-trailing.bin", IH_E_TRAILING},
        {"ACK", "wire-ack-wrongtype.bin", IH_E_TYPE},
        {"NAK", "wire-nak-missing.bin", IH_E_MISSING},
        {"NAK", "wire-nak-hugecount.bin", IH_E_MALFORMED},
    };
    for (size_t i = 0; i < sizeof (fixtures) / sizeof (fixtures[0]); i++) {
        msg = zmsg_new ();
        zmsg_addstr (msg, fixtures[i].command);
        zframe_t *frame = s_fixture_frame (fixtures[i].file);
        zmsg_append (msg, &frame);
        ih_err_t rc = ih_wire_decode (msg, &wire);
        if (rc != fixtures[i].expect)
            fprintf (stderr, "fixture %s as %s: got %s\n", fixtures[i].file,
                     fixtures[i].command, ih_err_name (rc));
        ih_check (rc == fixtures[i].expect);
        zmsg_destroy (&msg);
    }

    //  PUB round trip and errors
    msg = ih_wire_pub ("laoshan", "lh-inc-01", "sensor.temp", 12, 1700000000000,
                       event, sizeof (event));
    ih_check (ih_wire_decode_pub (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_PUB);
    ih_check (streq (wire.topic, "laoshan/lh-inc-01/sensor.temp/"));
    ih_check (streq (wire.site, "lh-inc-01") &&
              streq (wire.type, "sensor.temp"));
    ih_check (wire.hub_seq == 12 && wire.received == 1700000000000);
    ih_check (wire.event_size == 3 && memcmp (wire.event, event, 3) == 0);
    //  ...and it is not a command
    ih_check (ih_wire_decode (msg, &wire) == IH_E_COMMAND);
    zmsg_destroy (&msg);
    msg = ih_wire_event (event, sizeof (event));
    ih_check (ih_wire_decode_pub (msg, &wire) == IH_E_FRAMES);
    zmsg_destroy (&msg);
    ih_check (ih_wire_decode_pub (NULL, &wire) == IH_E_FRAMES);
    const char *topics[][2] = {
        {"a/b/c/", "OK"},   {"a/b/c", "MAL"},    {"a/b/", "MAL"},
        {"a/b/c/d", "MAL"}, {"a/b/c/d/", "MAL"}, {"A/b/c/", "BAD"},
        {"a//c/", "BAD"},   {"", "MAL"},         {"a/b/c//", "MAL"},
    };
    for (size_t i = 0; i < sizeof (topics) / sizeof (topics[0]); i++) {
        msg = zmsg_new ();
        zmsg_addstr (msg, topics[i][0]);
        zmsg_addmem (msg, "12345678", 8);
        zmsg_addmem (msg, "12345678", 8);
        zmsg_addmem (msg, event, sizeof (event));
        ih_err_t rc = ih_wire_decode_pub (msg, &wire);
        ih_err_t want = streq (topics[i][1], "OK")    ? IH_OK
                        : streq (topics[i][1], "BAD") ? IH_E_BADNAME
                                                      : IH_E_MALFORMED;
        if (rc != want)
            fprintf (stderr, "topic '%s': got %s\n", topics[i][0],
                     ih_err_name (rc));
        ih_check (rc == want);
        zmsg_destroy (&msg);
    }
    char long_topic[300];
    memset (long_topic, 'a', 65);
    strcpy (long_topic + 65, "/b/c/");
    ih_check (s_decode_frames (long_topic, "12345678", "12345678", "e") ==
              IH_E_COMMAND);
    msg = zmsg_new ();
    zmsg_addstr (msg, long_topic);
    zmsg_addmem (msg, "12345678", 8);
    zmsg_addmem (msg, "12345678", 8);
    zmsg_addmem (msg, event, 3);
    ih_check (ih_wire_decode_pub (msg, &wire) == IH_E_TOOBIG);
    zmsg_destroy (&msg);
    memset (long_topic, 'a', 250);
    long_topic[250] = 0;
    msg = zmsg_new ();
    zmsg_addstr (msg, long_topic);
    zmsg_addmem (msg, "12345678", 8);
    zmsg_addmem (msg, "12345678", 8);
    zmsg_addmem (msg, event, 3);
    ih_check (ih_wire_decode_pub (msg, &wire) == IH_E_TOOBIG);
    zmsg_destroy (&msg);
    msg = zmsg_new ();
    zmsg_addstr (msg, "a/b/c/");
    zmsg_addmem (msg, "1234567", 7);
    zmsg_addmem (msg, "12345678", 8);
    zmsg_addmem (msg, event, 3);
    ih_check (ih_wire_decode_pub (msg, &wire) == IH_E_MALFORMED);
    zmsg_destroy (&msg);
    msg = zmsg_new ();
    zmsg_addstr (msg, "a/b/c/");
    zmsg_addmem (msg, "12345678", 8);
    zmsg_addmem (msg, "123456789", 9);
    zmsg_addmem (msg, event, 3);
    ih_check (ih_wire_decode_pub (msg, &wire) == IH_E_MALFORMED);
    zmsg_destroy (&msg);
    msg = zmsg_new ();
    zmsg_addstr (msg, "a/b/c/");
    zmsg_addmem (msg, "12345678", 8);
    zmsg_addmem (msg, "12345678", 8);
    zmsg_addmem (msg, event, 0);
    ih_check (ih_wire_decode_pub (msg, &wire) == IH_E_MALFORMED);
    zmsg_destroy (&msg);

    //  Topic prefixes and matching
    char topic[3 * IH_NAME_MAX + 4];
    ih_wire_topic_prefix (NULL, NULL, NULL, topic);
    ih_check (streq (topic, ""));
    ih_wire_topic_prefix ("laoshan", NULL, NULL, topic);
    ih_check (streq (topic, "laoshan/"));
    ih_wire_topic_prefix ("laoshan", "lh-1", NULL, topic);
    ih_check (streq (topic, "laoshan/lh-1/"));
    ih_wire_topic_prefix ("laoshan", "lh-1", "door", topic);
    ih_check (streq (topic, "laoshan/lh-1/door/"));
    ih_wire_topic_prefix ("laoshan", NULL, "door", topic);
    ih_check (streq (topic, "laoshan/"));
    ih_wire_topic_prefix (NULL, "lh-1", "door", topic);
    ih_check (streq (topic, ""));
    //  A prefix must not match a longer name: "lh-1/" vs "lh-10/"
    ih_check (strncmp ("laoshan/lh-10/door/", "laoshan/lh-1/", 13) != 0);
    ih_check (ih_wire_topic_match ("laoshan/lh-1/door/", NULL, NULL, NULL));
    ih_check (
        ih_wire_topic_match ("laoshan/lh-1/door/", "laoshan", "lh-1", "door"));
    ih_check (ih_wire_topic_match ("laoshan/lh-1/door/", NULL, NULL, "door"));
    ih_check (ih_wire_topic_match ("laoshan/lh-1/door/", NULL, "lh-1", ""));
    ih_check (!ih_wire_topic_match ("laoshan/lh-1/door/", NULL, NULL, "do"));
    ih_check (!ih_wire_topic_match ("laoshan/lh-1/door/", NULL, "lh-10", NULL));
    ih_check (
        !ih_wire_topic_match ("laoshan/lh-1/door/", "shinan", NULL, NULL));
    ih_check (!ih_wire_topic_match ("garbage", NULL, NULL, NULL));
    ih_check (!ih_wire_topic_match (NULL, NULL, NULL, NULL));
    //  Replay service: round trips
    msg = ih_wire_replay (5, 0, 9, "laoshan", NULL, "door.open", 100);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_REPLAY && wire.from == 5 && wire.to == 9);
    ih_check (wire.from_time == 0 && wire.credit == 100);
    ih_check (streq (wire.district, "laoshan") && streq (wire.site, ""));
    ih_check (streq (wire.type, "door.open"));
    zmsg_destroy (&msg);
    msg = ih_wire_replay (0, 1700000000000, 0, "", "lh-1", NULL, 0);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.from == 0 && wire.from_time == 1700000000000);
    ih_check (wire.credit == 0 && streq (wire.site, "lh-1"));
    zmsg_destroy (&msg);
    msg = ih_wire_credit (42);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_CREDIT && wire.credit == 42);
    zmsg_destroy (&msg);
    msg = ih_wire_record (7, 1700000000001, "laoshan", event, sizeof (event));
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_RECORD && wire.hub_seq == 7);
    ih_check (wire.received == 1700000000001);
    ih_check (streq (wire.district, "laoshan") && wire.event_size == 3);
    ih_check (memcmp (wire.event, event, 3) == 0);
    zmsg_destroy (&msg);
    msg = ih_wire_end (99);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_END && wire.last == 99);
    zmsg_destroy (&msg);
    msg = ih_wire_checkpoint_request (0);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_CHECKPOINT && wire.size == 0);
    zmsg_destroy (&msg);
    msg = ih_wire_prove_inclusion (3, 8);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_PROVE_INCLUSION && wire.hub_seq == 3);
    ih_check (wire.size == 8);
    zmsg_destroy (&msg);
    msg = ih_wire_prove_consistency (4, 0);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_PROVE_CONSISTENCY && wire.old_size == 4);
    ih_check (wire.new_size == 0);
    zmsg_destroy (&msg);
    uint8_t cp[100], path[3 * IH_WIRE_HASH], rec[20];
    memset (cp, 0x11, sizeof (cp));
    memset (path, 0x22, sizeof (path));
    memset (rec, 0x01, sizeof (rec));
    msg = ih_wire_signed_checkpoint (cp, sizeof (cp));
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_SIGNED_CHECKPOINT);
    ih_check (wire.checkpoint_size == 100 && wire.checkpoint[0] == 0x11);
    zmsg_destroy (&msg);
    msg = ih_wire_inclusion (3, 8, rec, sizeof (rec), path, 3, cp, sizeof (cp));
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_INCLUSION && wire.hub_seq == 3);
    ih_check (wire.size == 8 && wire.record_size == 20);
    ih_check (wire.proof_size == 96 && wire.checkpoint_size == 100);
    zmsg_destroy (&msg);
    msg = ih_wire_inclusion (1, 1, rec, sizeof (rec), NULL, 0, cp, 65);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.proof == NULL && wire.proof_size == 0);
    zmsg_destroy (&msg);
    msg = ih_wire_consistency (cp, 90, cp, 100, path, 2);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    ih_check (wire.kind == IH_WIRE_CONSISTENCY && wire.checkpoint_size == 90);
    ih_check (wire.checkpoint_new_size == 100 && wire.proof_size == 64);
    zmsg_destroy (&msg);

    //  Replay service: errors
    struct {
        const char *command;
        const char *hex;
        ih_err_t expect;
    } replay_bodies[] = {
        {"REPLAY", "97 01 00 00 c0 c0 c0 0a", IH_OK},
        {"REPLAY", "97 00 00 00 a0 a0 a0 00", IH_OK},
        {"REPLAY", "97 01 01 00 c0 c0 c0 0a", IH_E_MALFORMED}, //  two starts
        {"REPLAY", "96 01 00 00 c0 c0 c0", IH_E_MISSING},
        {"REPLAY", "98 01 00 00 c0 c0 c0 0a 00", IH_E_TRAILING},
        {"REPLAY", "97 01 00 00 01 c0 c0 0a", IH_E_TYPE},
        {"REPLAY", "97 01 00 00 c0 a1 41 c0 0a", IH_E_BADNAME},
        {"REPLAY", "97 01 00 00 c0 c0 c0 ff", IH_E_TYPE},
        {"REPLAY", "97 a1 61 00 00 c0 c0 c0 0a", IH_E_TYPE},
        {"CREDIT", "91 05", IH_OK},
        {"CREDIT", "91 00", IH_E_MALFORMED},
        {"CREDIT", "92 01 01", IH_E_TRAILING},
        {"CREDIT", "91 c0", IH_E_TYPE},
        {"END", "91 00", IH_OK},
        {"END", "90", IH_E_MISSING},
        {"CHECKPOINT", "91 00", IH_OK},
        {"CHECKPOINT", "91 a1 61", IH_E_TYPE},
        {"PROVE-INCLUSION", "92 01 00", IH_OK},
        {"PROVE-INCLUSION", "92 00 05", IH_E_MALFORMED}, //  hub_seq 0
        {"PROVE-INCLUSION", "91 01", IH_E_MISSING},
        {"PROVE-CONSISTENCY", "92 00 00", IH_OK},
        {"PROVE-CONSISTENCY", "93 00 00 00", IH_E_TRAILING},
    };
    for (size_t i = 0; i < sizeof (replay_bodies) / sizeof (replay_bodies[0]);
         i++) {
        ih_err_t rc =
            s_decode_hex (replay_bodies[i].command, replay_bodies[i].hex);
        if (rc != replay_bodies[i].expect)
            fprintf (stderr, "replay case %zu (%s %s): got %s\n", i,
                     replay_bodies[i].command, replay_bodies[i].hex,
                     ih_err_name (rc));
        ih_check (rc == replay_bodies[i].expect);
    }
    //  RECORD: hub_seq 0, bad district, empty event, frame counts
    msg = ih_wire_record (0, 1, "laoshan", event, sizeof (event));
    ih_check (ih_wire_decode (msg, &wire) == IH_E_MALFORMED);
    zmsg_destroy (&msg);
    msg = ih_wire_record (1, 1, "Lao", event, sizeof (event));
    ih_check (ih_wire_decode (msg, &wire) == IH_E_BADNAME);
    zmsg_destroy (&msg);
    msg = ih_wire_record (1, 1, "laoshan", event, 0);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_MALFORMED);
    zmsg_destroy (&msg);
    ih_check (s_decode_frames ("RECORD", "x", NULL, NULL) == IH_E_FRAMES);
    ih_check (s_decode_frames ("REPLAY", NULL, NULL, NULL) == IH_E_FRAMES);
    ih_check (s_decode_frames ("END", "a", "b", NULL) == IH_E_FRAMES);
    ih_check (s_decode_frames ("INCLUSION-PROOF", "a", "b", "c") ==
              IH_E_FRAMES);
    ih_check (s_decode_frames ("CONSISTENCY-PROOF", "a", "b", NULL) ==
              IH_E_FRAMES);
    //  Checkpoint frames: 64 bytes or fewer, over the maximum
    uint8_t big_cp[IH_WIRE_CHECKPOINT_MAX + 1];
    memset (big_cp, 0, sizeof (big_cp));
    msg = ih_wire_signed_checkpoint (cp, 64);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_MALFORMED);
    zmsg_destroy (&msg);
    msg = ih_wire_signed_checkpoint (big_cp, sizeof (big_cp));
    ih_check (ih_wire_decode (msg, &wire) == IH_E_TOOBIG);
    zmsg_destroy (&msg);
    //  Proof frames: not whole hashes, too many; inclusion shape rules
    msg = ih_wire_consistency (cp, 90, cp, 100, NULL, 0);
    zframe_t *last = zmsg_last (msg);
    zframe_reset (last, path, 33);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_MALFORMED);
    zmsg_destroy (&msg);
    uint8_t *many = (uint8_t *) zmalloc ((IH_WIRE_PATH_MAX + 1) * 32);
    msg = ih_wire_inclusion (1, 2, rec, sizeof (rec), many,
                             IH_WIRE_PATH_MAX + 1, cp, sizeof (cp));
    ih_check (ih_wire_decode (msg, &wire) == IH_E_TOOBIG);
    zmsg_destroy (&msg);
    msg = ih_wire_consistency (cp, 90, cp, 100, many, IH_WIRE_CPROOF_MAX);
    ih_check (ih_wire_decode (msg, &wire) == IH_OK);
    zmsg_destroy (&msg);
    free (many);
    msg = ih_wire_inclusion (3, 2, rec, sizeof (rec), path, 1, cp, 90);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_MALFORMED); //  seq > size
    zmsg_destroy (&msg);
    msg = ih_wire_inclusion (1, 2, rec, IH_RECORD_HEADER, path, 1, cp, 90);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_MALFORMED); //  no event
    zmsg_destroy (&msg);
    msg = ih_wire_inclusion (1, 2, rec, sizeof (rec), path, 1, cp, 30);
    ih_check (ih_wire_decode (msg, &wire) == IH_E_MALFORMED);
    zmsg_destroy (&msg);

    if (verbose)
        printf ("OK\n");
}
