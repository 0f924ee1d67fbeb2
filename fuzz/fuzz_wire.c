/*  =========================================================================
    fuzz_wire - libFuzzer target for the ZeroMQ message decoders

    The input is a whole multipart message: its frames are separated by the
    two bytes 0xc1 0xc1 (0xc1 is the one byte msgpack never uses, so
    well-formed msgpack bodies rarely contain the delimiter, and the fuzzer
    finds it quickly from the seeds). The message goes to ih_wire_decode
    (what the hub's ingest and the agent's listen socket see, after the
    ROUTER identity is popped) and to ih_wire_decode_pub (what a subscriber
    sees). An accepted message must give a view whose pointers lie inside
    its frames and whose fields survive a rebuild with the ih_wire builders,
    including the optional request tag of PUBLISH, CONFIRM and NAK (1..
    IH_WIRE_TAG_MAX bytes, rebuilt with ih_wire_publish_tagged or
    ih_wire_set_tag), and the replay service's messages (docs/protocol.md
    5.5: filters valid names or empty, credit >= 1 in CREDIT, hub_seq
    within size in INCLUSION-PROOF, record 10..65545 bytes, proofs whole
    32-byte hashes, at most 64 or 65 of them, checkpoints 65..256 bytes).
    A rejected message leaves at most a valid tag in the
    view, so that a NAK can echo it.
    =========================================================================*/
#include "ih_fuzz.h"
#include "ih_wire.h"

IH_FUZZ_INITIALIZE ();

//  Splits bytes at every 0xc1 0xc1 into frames (an input without the
//  delimiter is a single frame; an empty input is an empty message).
static zmsg_t *
s_split (const uint8_t *bytes, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    if (size == 0)
        return msg;
    size_t start = 0;
    for (size_t i = 0; i + 1 < size; i++)
        if (bytes[i] == 0xc1 && bytes[i + 1] == 0xc1) {
            zmsg_addmem (msg, bytes + start, i - start);
            start = i + 2;
            i++;
        }
    zmsg_addmem (msg, bytes + start, size - start);
    return msg;
}

//  True if [p, p + n) lies inside one frame of msg.
static bool
s_inside (zmsg_t *msg, const void *p, size_t n)
{
    const uint8_t *bytes = (const uint8_t *) p;
    for (zframe_t *f = zmsg_first (msg); f; f = zmsg_next (msg)) {
        const uint8_t *data = zframe_data (f);
        if (bytes >= data && bytes + n <= data + zframe_size (f))
            return true;
    }
    return false;
}

static bool
s_terminated (const char *s, size_t capacity)
{
    return memchr (s, 0, capacity) != NULL;
}

//  Two borrowed byte ranges are equal (both absent, or same bytes).
static void
s_same (const uint8_t *a, size_t a_size, const uint8_t *b, size_t b_size)
{
    IH_FUZZ_CHECK (a_size == b_size);
    IH_FUZZ_CHECK (a_size == 0 || memcmp (a, b, a_size) == 0);
}

//  A filter or district is "" (any) or a valid name.
static bool
s_filter_ok (const char *name)
{
    return !*name || ih_event_name_valid (name);
}

//  A signed checkpoint frame has the size section 11.3 allows, inside msg.
static void
s_check_checkpoint (zmsg_t *msg, const uint8_t *cp, size_t size)
{
    IH_FUZZ_CHECK (cp && size > 64 && size <= IH_WIRE_CHECKPOINT_MAX);
    IH_FUZZ_CHECK (s_inside (msg, cp, size));
}

//  A proof frame is whole hashes, at most max of them, inside msg.
static void
s_check_proof (zmsg_t *msg, const uint8_t *proof, size_t size, size_t max)
{
    IH_FUZZ_CHECK (size % IH_WIRE_HASH == 0);
    IH_FUZZ_CHECK (size / IH_WIRE_HASH <= max);
    if (size)
        IH_FUZZ_CHECK (s_inside (msg, proof, size));
}

//  Decodes a message an ih_wire builder made and checks it says the same.
static void
s_roundtrip (zmsg_t *rebuilt, const ih_wire_t *wire, bool pub)
{
    ih_wire_t again;
    ih_err_t rc = pub ? ih_wire_decode_pub (rebuilt, &again)
                      : ih_wire_decode (rebuilt, &again);
    IH_FUZZ_CHECK (rc == IH_OK);
    IH_FUZZ_CHECK (again.kind == wire->kind);
    IH_FUZZ_CHECK (streq (again.site, wire->site));
    IH_FUZZ_CHECK (again.seq == wire->seq);
    IH_FUZZ_CHECK (again.hub_seq == wire->hub_seq);
    IH_FUZZ_CHECK (again.expected == wire->expected);
    IH_FUZZ_CHECK (again.received == wire->received);
    IH_FUZZ_CHECK (again.code == wire->code);
    IH_FUZZ_CHECK (streq (again.type, wire->type));
    IH_FUZZ_CHECK (streq (again.topic, wire->topic));
    s_same (again.event, again.event_size, wire->event, wire->event_size);
    s_same (again.data, again.data_size, wire->data, wire->data_size);
    IH_FUZZ_CHECK (again.json_size == wire->json_size);
    s_same (again.tag, again.tag_size, wire->tag, wire->tag_size);
    IH_FUZZ_CHECK ((again.tag == NULL) == (wire->tag == NULL));
    //  Replay service fields (zero for the other kinds)
    IH_FUZZ_CHECK (streq (again.district, wire->district));
    IH_FUZZ_CHECK (again.from == wire->from);
    IH_FUZZ_CHECK (again.from_time == wire->from_time);
    IH_FUZZ_CHECK (again.to == wire->to);
    IH_FUZZ_CHECK (again.credit == wire->credit);
    IH_FUZZ_CHECK (again.last == wire->last);
    IH_FUZZ_CHECK (again.size == wire->size);
    IH_FUZZ_CHECK (again.old_size == wire->old_size);
    IH_FUZZ_CHECK (again.new_size == wire->new_size);
    s_same (again.record, again.record_size, wire->record, wire->record_size);
    s_same (again.proof, again.proof_size, wire->proof, wire->proof_size);
    s_same (again.checkpoint, again.checkpoint_size, wire->checkpoint,
            wire->checkpoint_size);
    s_same (again.checkpoint_new, again.checkpoint_new_size,
            wire->checkpoint_new, wire->checkpoint_new_size);
    //  A NAK reason is kept verbatim unless it was empty (the builder then
    //  fills in ih_strerror's text, which is allowed to differ)
    if (wire->kind == IH_WIRE_NAK && *wire->reason)
        IH_FUZZ_CHECK (streq (again.reason, wire->reason));
    zmsg_destroy (&rebuilt);
}

//  The tag, if any, is 1..IH_WIRE_TAG_MAX bytes inside msg.
static void
s_check_tag (zmsg_t *msg, const ih_wire_t *wire)
{
    IH_FUZZ_CHECK ((wire->tag == NULL) == (wire->tag_size == 0));
    if (wire->tag) {
        IH_FUZZ_CHECK (wire->tag_size <= IH_WIRE_TAG_MAX);
        IH_FUZZ_CHECK (s_inside (msg, wire->tag, wire->tag_size));
    }
}

//  A CONFIRM or NAK rebuilt by a builder, with the tag echoed.
static zmsg_t *
s_tagged (zmsg_t *reply, const ih_wire_t *wire)
{
    ih_wire_set_tag (reply, wire->tag, wire->tag_size);
    return reply;
}

static void
s_check_command (zmsg_t *msg, const ih_wire_t *wire)
{
    IH_FUZZ_CHECK (wire->kind >= IH_WIRE_EVENT &&
                   wire->kind <= IH_WIRE_CONSISTENCY &&
                   wire->kind != IH_WIRE_PUB);
    IH_FUZZ_CHECK (s_terminated (wire->district, sizeof (wire->district)));
    IH_FUZZ_CHECK (zmsg_content_size (msg) <= IH_WIRE_MAX);
    IH_FUZZ_CHECK (s_terminated (wire->site, sizeof (wire->site)));
    IH_FUZZ_CHECK (s_terminated (wire->type, sizeof (wire->type)));
    IH_FUZZ_CHECK (s_terminated (wire->reason, sizeof (wire->reason)));
    IH_FUZZ_CHECK (strlen (wire->reason) <= IH_WIRE_REASON_MAX);
    if (wire->event)
        IH_FUZZ_CHECK (s_inside (msg, wire->event, wire->event_size));
    if (wire->data)
        IH_FUZZ_CHECK (s_inside (msg, wire->data, wire->data_size));
    if (wire->json)
        IH_FUZZ_CHECK (s_inside (msg, wire->json, wire->json_size));
    s_check_tag (msg, wire);
    //  Only the commands that take a tag have one
    if (wire->kind != IH_WIRE_PUBLISH && wire->kind != IH_WIRE_CONFIRM &&
        wire->kind != IH_WIRE_NAK)
        IH_FUZZ_CHECK (wire->tag == NULL);

    switch (wire->kind) {
    case IH_WIRE_EVENT:
        IH_FUZZ_CHECK (wire->event_size >= 1 &&
                       wire->event_size <= IH_EVENT_MAX);
        s_roundtrip (ih_wire_event (wire->event, wire->event_size), wire,
                     false);
        break;
    case IH_WIRE_ACK:
        IH_FUZZ_CHECK (ih_event_name_valid (wire->site));
        s_roundtrip (ih_wire_ack (wire->site, wire->seq, wire->hub_seq), wire,
                     false);
        break;
    case IH_WIRE_NAK:
        IH_FUZZ_CHECK (wire->code != IH_OK);
        IH_FUZZ_CHECK (!*wire->site || ih_event_name_valid (wire->site));
        s_roundtrip (
            s_tagged (ih_wire_nak (wire->code,
                                   *wire->reason ? wire->reason : NULL,
                                   wire->site, wire->seq, wire->expected),
                      wire),
            wire, false);
        break;
    case IH_WIRE_CONFIRM:
        IH_FUZZ_CHECK (ih_event_name_valid (wire->site));
        s_roundtrip (s_tagged (ih_wire_confirm (wire->site, wire->seq), wire),
                     wire, false);
        break;
    case IH_WIRE_PUBLISH:
        IH_FUZZ_CHECK (ih_event_name_valid (wire->type));
        IH_FUZZ_CHECK (wire->data && wire->data_size >= 1);
        s_roundtrip (ih_wire_publish_tagged (wire->type, wire->data,
                                             wire->data_size, wire->tag,
                                             wire->tag_size),
                     wire, false);
        break;
    case IH_WIRE_STATUS:
        //  The JSON body is opaque here (the CLI parses it with Jansson);
        //  a request has none
        IH_FUZZ_CHECK ((wire->json == NULL) == (wire->json_size == 0));
        break;
    case IH_WIRE_REPLAY:
        IH_FUZZ_CHECK (s_filter_ok (wire->district));
        IH_FUZZ_CHECK (s_filter_ok (wire->site));
        IH_FUZZ_CHECK (s_filter_ok (wire->type));
        s_roundtrip (ih_wire_replay (wire->from, wire->from_time, wire->to,
                                     wire->district, wire->site, wire->type,
                                     wire->credit),
                     wire, false);
        break;
    case IH_WIRE_CREDIT:
        IH_FUZZ_CHECK (wire->credit >= 1);
        s_roundtrip (ih_wire_credit (wire->credit), wire, false);
        break;
    case IH_WIRE_RECORD:
        IH_FUZZ_CHECK (wire->hub_seq >= 1);
        IH_FUZZ_CHECK (ih_event_name_valid (wire->district));
        IH_FUZZ_CHECK (wire->event && wire->event_size >= 1 &&
                       wire->event_size <= IH_EVENT_MAX);
        IH_FUZZ_CHECK (zmsg_size (msg) == 3);
        s_roundtrip (ih_wire_record (wire->hub_seq, wire->received,
                                     wire->district, wire->event,
                                     wire->event_size),
                     wire, false);
        break;
    case IH_WIRE_END:
        s_roundtrip (ih_wire_end (wire->last), wire, false);
        break;
    case IH_WIRE_CHECKPOINT:
        s_roundtrip (ih_wire_checkpoint_request (wire->size), wire, false);
        break;
    case IH_WIRE_PROVE_INCLUSION:
        IH_FUZZ_CHECK (wire->hub_seq >= 1);
        s_roundtrip (ih_wire_prove_inclusion (wire->hub_seq, wire->size), wire,
                     false);
        break;
    case IH_WIRE_PROVE_CONSISTENCY:
        //  old 0 decodes (the shape is right); the replay service answers
        //  it with NAK IH_E_BADARG (protocol.md 5.5)
        s_roundtrip (ih_wire_prove_consistency (wire->old_size, wire->new_size),
                     wire, false);
        break;
    case IH_WIRE_SIGNED_CHECKPOINT:
        s_check_checkpoint (msg, wire->checkpoint, wire->checkpoint_size);
        s_roundtrip (
            ih_wire_signed_checkpoint (wire->checkpoint, wire->checkpoint_size),
            wire, false);
        break;
    case IH_WIRE_INCLUSION:
        IH_FUZZ_CHECK (wire->hub_seq >= 1 && wire->hub_seq <= wire->size);
        IH_FUZZ_CHECK (wire->record && wire->record_size >= 10 &&
                       wire->record_size <= IH_EVENT_MAX + 9);
        IH_FUZZ_CHECK (s_inside (msg, wire->record, wire->record_size));
        s_check_proof (msg, wire->proof, wire->proof_size, IH_WIRE_PATH_MAX);
        s_check_checkpoint (msg, wire->checkpoint, wire->checkpoint_size);
        s_roundtrip (ih_wire_inclusion (wire->hub_seq, wire->size, wire->record,
                                        wire->record_size, wire->proof,
                                        wire->proof_size / IH_WIRE_HASH,
                                        wire->checkpoint,
                                        wire->checkpoint_size),
                     wire, false);
        break;
    case IH_WIRE_CONSISTENCY:
        s_check_checkpoint (msg, wire->checkpoint, wire->checkpoint_size);
        s_check_checkpoint (msg, wire->checkpoint_new,
                            wire->checkpoint_new_size);
        s_check_proof (msg, wire->proof, wire->proof_size, IH_WIRE_CPROOF_MAX);
        s_roundtrip (ih_wire_consistency (
                         wire->checkpoint, wire->checkpoint_size,
                         wire->checkpoint_new, wire->checkpoint_new_size,
                         wire->proof, wire->proof_size / IH_WIRE_HASH),
                     wire, false);
        break;
    default:
        IH_FUZZ_CHECK (false);
    }
}

static void
s_check_pub (zmsg_t *msg, const ih_wire_t *wire)
{
    IH_FUZZ_CHECK (wire->kind == IH_WIRE_PUB);
    IH_FUZZ_CHECK (wire->tag == NULL && wire->tag_size == 0);
    IH_FUZZ_CHECK (zmsg_size (msg) == 4);
    IH_FUZZ_CHECK (s_terminated (wire->topic, sizeof (wire->topic)));
    IH_FUZZ_CHECK (strlen (wire->topic) <= 3 * IH_NAME_MAX + 3);
    IH_FUZZ_CHECK (ih_event_name_valid (wire->site));
    IH_FUZZ_CHECK (ih_event_name_valid (wire->type));
    IH_FUZZ_CHECK (wire->event && wire->event_size >= 1 &&
                   wire->event_size <= IH_EVENT_MAX);
    IH_FUZZ_CHECK (s_inside (msg, wire->event, wire->event_size));
    //  topic = district/site/type/: rebuild it from its parts
    const char *slash = strchr (wire->topic, '/');
    IH_FUZZ_CHECK (slash && slash > wire->topic &&
                   (size_t) (slash - wire->topic) <= IH_NAME_MAX);
    char district[IH_NAME_MAX + 1];
    memcpy (district, wire->topic, slash - wire->topic);
    district[slash - wire->topic] = 0;
    IH_FUZZ_CHECK (ih_event_name_valid (district));
    IH_FUZZ_CHECK (
        ih_wire_topic_match (wire->topic, district, wire->site, wire->type));
    s_roundtrip (ih_wire_pub (district, wire->site, wire->type, wire->hub_seq,
                              wire->received, wire->event, wire->event_size),
                 wire, true);
}

int
LLVMFuzzerTestOneInput (const uint8_t *bytes, size_t size)
{
    zmsg_t *msg = s_split (bytes, size);
    ih_wire_t wire;
    ih_err_t rc = ih_wire_decode (msg, &wire);
    IH_FUZZ_CHECK (rc >= IH_OK && rc <= IH_E_ERR_MAX);
    if (rc == IH_OK)
        s_check_command (msg, &wire);
    else
        s_check_tag (msg, &wire);

    rc = ih_wire_decode_pub (msg, &wire);
    IH_FUZZ_CHECK (rc >= IH_OK && rc <= IH_E_ERR_MAX);
    if (rc == IH_OK)
        s_check_pub (msg, &wire);
    zmsg_destroy (&msg);
    return 0;
}
