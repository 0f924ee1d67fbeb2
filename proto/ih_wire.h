/*  =========================================================================
    ih_wire - the ZeroMQ messages incuhub exchanges

    Every message is a ZeroMQ multipart message whose first frame is a
    command in upper-case ASCII. Clients use DEALER sockets (no empty
    delimiter frame); the hub's ingest socket and the agent's listen socket
    are ROUTERs, so a received message has the peer identity in front,
    which the caller pops before ih_wire_decode and pushes back before
    sending a reply. Integers inside msgpack bodies are unsigned unless said.

    Agent -> hub ingest (docs/protocol.md has the full text):
        EVENT   [ "EVENT" ][ signed event ]
        STATUS  [ "STATUS" ]
    Hub -> agent:
        ACK     [ "ACK" ][ msgpack [ site str, seq, hub_seq ] ]
        NAK     [ "NAK" ][ msgpack [ code, reason str, site str|nil,
                                     seq, expected ] ]   (0 = unknown)
        STATUS  [ "STATUS" ][ JSON object, UTF-8 ]
    Local client -> agent listen socket:
        PUBLISH [ "PUBLISH" ][ type str ][ msgpack map (the payload) ]
                [ tag ]   (optional: opaque request tag, 1..64 bytes)
        STATUS  [ "STATUS" ]
    Agent -> local client:
        CONFIRM [ "CONFIRM" ][ msgpack [ site str, seq ] ]  (durable in outbox)
                [ tag ]   (present iff the PUBLISH had one: echoed)
        NAK     as above, plus [ tag ] echoed like CONFIRM's
        STATUS  as above
    The tag lets a pipelining client match replies to requests even when
    the agent restarts mid-stream (position alone then lies).
    Hub publish socket (PUB), one message per stored event:
        [ topic ][ hub_seq, 8 bytes big-endian ][ received ms, 8 bytes BE ]
        [ signed event ]
        topic = "<district>/<site>/<type>/" so that a ZeroMQ prefix
        subscription filters by district, by district+site, or exactly.

    Hub replay service (ROUTER; clients are DEALERs), section 5.5:
        REPLAY  [ "REPLAY" ][ msgpack [ from, from_time, to, district|nil,
                  site|nil, type|nil, credit ] ]
        CREDIT  [ "CREDIT" ][ msgpack [ n ] ]
        RECORD  [ "RECORD" ][ msgpack [ hub_seq, received, district ] ]
                [ signed event ]
        END     [ "END" ][ msgpack [ last hub_seq examined ] ]
        CHECKPOINT         [ "CHECKPOINT" ][ msgpack [ size ] ]
        PROVE-INCLUSION    [ "PROVE-INCLUSION" ][ msgpack [ hub_seq, size ] ]
        PROVE-CONSISTENCY  [ "PROVE-CONSISTENCY" ][ msgpack [ old, new ] ]
        SIGNED-CHECKPOINT  [ "SIGNED-CHECKPOINT" ][ signed checkpoint ]
        INCLUSION-PROOF    [ "INCLUSION-PROOF" ][ msgpack [ hub_seq, size ] ]
                           [ record ][ path ][ signed checkpoint ]
        CONSISTENCY-PROOF  [ "CONSISTENCY-PROOF" ][ old checkpoint ]
                           [ new checkpoint ][ proof ]
        errors are NAKs as above.

    Limits: a whole message is at most IH_WIRE_MAX bytes (sockets also set
    ZMQ_MAXMSGSIZE to it); any frame count other than the command's gives
    IH_E_FRAMES; an unknown command IH_E_COMMAND.
    =========================================================================*/
#ifndef IH_WIRE_H_INCLUDED
#define IH_WIRE_H_INCLUDED

#include <czmq.h>
#include "ih_err.h"
#include "ih_event.h"

#define IH_WIRE_MAX (IH_EVENT_MAX + 4096)
#define IH_WIRE_REASON_MAX 200
#define IH_WIRE_TAG_MAX 64    //  bytes in a PUBLISH/CONFIRM/NAK request tag
#define IH_WIRE_HASH 32       //  bytes of one hash in a proof frame
#define IH_WIRE_PATH_MAX 64   //  hashes in an inclusion path
#define IH_WIRE_CPROOF_MAX 65 //  hashes in a consistency proof
#define IH_WIRE_CHECKPOINT_MAX 256 //  = IH_CHECKPOINT_MAX

typedef enum {
    IH_WIRE_EVENT = 1,
    IH_WIRE_ACK,
    IH_WIRE_NAK,
    IH_WIRE_STATUS, //  request (no body) or reply (body is JSON)
    IH_WIRE_PUBLISH,
    IH_WIRE_CONFIRM,
    IH_WIRE_PUB, //  a message from the hub's PUB socket
    //  The hub's replay service (ROUTER; docs/protocol.md section 5.5)
    IH_WIRE_REPLAY,            //  client: open a stream
    IH_WIRE_CREDIT,            //  client: may receive n more RECORDs
    IH_WIRE_RECORD,            //  hub: one stored event of the stream
    IH_WIRE_END,               //  hub: stream done, last hub_seq examined
    IH_WIRE_CHECKPOINT,        //  client: ask for a signed checkpoint
    IH_WIRE_PROVE_INCLUSION,   //  client: ask for an inclusion proof
    IH_WIRE_PROVE_CONSISTENCY, //  client: ask for a consistency proof
    IH_WIRE_SIGNED_CHECKPOINT, //  hub: answers CHECKPOINT
    IH_WIRE_INCLUSION,         //  hub: answers PROVE-INCLUSION
    IH_WIRE_CONSISTENCY        //  hub: answers PROVE-CONSISTENCY
} ih_wire_kind_t;

//  A decoded message: a view. Pointers borrow from the zmsg_t that was
//  decoded and live as long as it does.
typedef struct {
    ih_wire_kind_t kind;
    const uint8_t *event; //  EVENT, PUB: the signed event
    size_t event_size;
    char site[IH_NAME_MAX + 1]; //  ACK, NAK (may be ""), CONFIRM
    uint64_t seq;               //  ACK, NAK (0 = unknown), CONFIRM
    uint64_t hub_seq;           //  ACK, PUB
    uint64_t expected;          //  NAK: for IH_E_GAP the next expected sequence
    uint64_t received;          //  PUB: the hub's receive time, ms
    ih_err_t code;              //  NAK
    char reason[IH_WIRE_REASON_MAX + 1]; //  NAK
    char type[IH_NAME_MAX + 1];          //  PUBLISH
    const uint8_t *data;                 //  PUBLISH: msgpack map
    size_t data_size;
    const char *json; //  STATUS reply: JSON text, NOT NUL-terminated
    size_t json_size; //  0 for a STATUS request
    char topic[3 * IH_NAME_MAX + 4]; //  PUB
    const uint8_t *tag; //  PUBLISH, CONFIRM, NAK: request tag, or NULL
    size_t tag_size;    //  1..IH_WIRE_TAG_MAX, 0 when there is no tag
    //  Replay service. REPLAY's site and type filters use site and type
    //  above ("" = any); hub_seq is also RECORD's, PROVE-INCLUSION's and
    //  INCLUSION's, received RECORD's, event RECORD's signed event.
    char district[IH_NAME_MAX + 1]; //  REPLAY filter ("" = any), RECORD
    uint64_t from;      //  REPLAY: first hub_seq, 0 = by from_time (or 1)
    uint64_t from_time; //  REPLAY: first event received at or after, ms
    uint64_t to;        //  REPLAY: last hub_seq wanted, 0 = to the end
    uint64_t credit;    //  REPLAY (may be 0), CREDIT (>= 1)
    uint64_t last;      //  END: last hub_seq examined
    uint64_t size;      //  CHECKPOINT, PROVE-INCLUSION (0 = latest), INCLUSION
    uint64_t old_size;  //  PROVE-CONSISTENCY
    uint64_t new_size;  //  PROVE-CONSISTENCY (0 = latest)
    const uint8_t *record; //  INCLUSION: the stored record (section 4)
    size_t record_size;
    const uint8_t *proof;          //  INCLUSION path, CONSISTENCY proof: 32 x n
    size_t proof_size;             //  bytes, a multiple of IH_WIRE_HASH
    const uint8_t *checkpoint;     //  SIGNED-CHECKPOINT, INCLUSION, CONSISTENCY
    size_t checkpoint_size;        //  (old); shape checked, not decoded
    const uint8_t *checkpoint_new; //  CONSISTENCY: the new checkpoint
    size_t checkpoint_new_size;
} ih_wire_t;

//  Decodes msg (peer identity already removed). Does not take ownership.
//  Errors: IH_E_FRAMES, IH_E_COMMAND, IH_E_TOOBIG, IH_E_MALFORMED,
//  IH_E_TRAILING, IH_E_TYPE, IH_E_MISSING, IH_E_BADNAME.
//  It checks the shape only: an EVENT's event bytes are not decoded here.
//  PUBLISH, CONFIRM and NAK may carry one more frame, a request tag: an
//  empty one gives IH_E_MALFORMED, one over IH_WIRE_TAG_MAX IH_E_TOOBIG
//  (checked after the body). On error the view is zeroed, except that
//  tag/tag_size are still set when the command takes a tag and its tag
//  frame is valid, so that a NAK for a bad PUBLISH can echo it.
ih_err_t ih_wire_decode (zmsg_t *msg, ih_wire_t *wire);

//  Decodes a 4-frame message from the hub's PUB socket (its first frame is
//  the topic, not a command, so ih_wire_decode cannot tell it apart).
//  Sets kind IH_WIRE_PUB, topic, hub_seq, received and event, and also
//  site and type as read from the topic. Does not take ownership; the
//  event bytes are not decoded here. Errors: IH_E_FRAMES (not 4 frames),
//  IH_E_TOOBIG (message, topic or event too big), IH_E_MALFORMED (topic
//  not "<district>/<site>/<type>/", an 8-byte frame of another size, empty
//  event), IH_E_BADNAME (a topic part is not a valid name).
ih_err_t ih_wire_decode_pub (zmsg_t *msg, ih_wire_t *wire);

//  Builders. Each returns a new message the caller owns (never NULL).
zmsg_t *ih_wire_event (const uint8_t *event, size_t size);
zmsg_t *ih_wire_ack (const char *site, uint64_t seq, uint64_t hub_seq);
//  site may be NULL or ""; reason NULL means ih_strerror (code).
zmsg_t *ih_wire_nak (ih_err_t code, const char *reason, const char *site,
                     uint64_t seq, uint64_t expected);
zmsg_t *ih_wire_status_request (void);
//  json is a NUL-terminated JSON object text.
zmsg_t *ih_wire_status_reply (const char *json);
zmsg_t *ih_wire_publish (const char *type, const uint8_t *data, size_t size);
//  PUBLISH with a request tag (tag_size 1..IH_WIRE_TAG_MAX, a programmer
//  error otherwise); tag NULL or tag_size 0 gives the untagged form.
zmsg_t *ih_wire_publish_tagged (const char *type, const uint8_t *data,
                                size_t size, const uint8_t *tag,
                                size_t tag_size);
zmsg_t *ih_wire_confirm (const char *site, uint64_t seq);
//  Appends tag as the last frame of reply (a CONFIRM or NAK answering a
//  tagged PUBLISH). Does nothing if tag is NULL or size 0; size over
//  IH_WIRE_TAG_MAX is a programmer error.
void ih_wire_set_tag (zmsg_t *reply, const uint8_t *tag, size_t size);
zmsg_t *ih_wire_pub (const char *district, const char *site, const char *type,
                     uint64_t hub_seq, uint64_t received, const uint8_t *event,
                     size_t size);

//  Replay service builders (docs/protocol.md 5.5). Filters may be NULL or
//  "" (any); names given must be valid (programmer error otherwise).
zmsg_t *ih_wire_replay (uint64_t from, uint64_t from_time, uint64_t to,
                        const char *district, const char *site,
                        const char *type, uint64_t credit);
zmsg_t *ih_wire_credit (uint64_t credit);
zmsg_t *ih_wire_record (uint64_t hub_seq, uint64_t received,
                        const char *district, const uint8_t *event,
                        size_t size);
zmsg_t *ih_wire_end (uint64_t last);
zmsg_t *ih_wire_checkpoint_request (uint64_t size);
zmsg_t *ih_wire_prove_inclusion (uint64_t hub_seq, uint64_t size);
zmsg_t *ih_wire_prove_consistency (uint64_t old_size, uint64_t new_size);
zmsg_t *ih_wire_signed_checkpoint (const uint8_t *checkpoint, size_t size);
//  path_len and proof_len count hashes of IH_WIRE_HASH bytes.
zmsg_t *ih_wire_inclusion (uint64_t hub_seq, uint64_t size,
                           const uint8_t *record, size_t record_size,
                           const uint8_t *path, size_t path_len,
                           const uint8_t *checkpoint, size_t checkpoint_size);
zmsg_t *ih_wire_consistency (const uint8_t *old_cp, size_t old_cp_size,
                             const uint8_t *new_cp, size_t new_cp_size,
                             const uint8_t *proof, size_t proof_len);

//  Writes the subscription prefix for the given filters into topic (size
//  3 * IH_NAME_MAX + 4): the longest prefix the filters fix. Any filter may
//  be NULL. A filter that cannot be expressed as a prefix (e.g. type
//  without site) must also be checked on each received message with
//  ih_wire_topic_match.
void ih_wire_topic_prefix (const char *district, const char *site,
                           const char *type, char *topic);
//  True if topic matches all the non-NULL filters.
bool ih_wire_topic_match (const char *topic, const char *district,
                          const char *site, const char *type);

//  Selftest
void ih_wire_test (bool verbose);

#endif
