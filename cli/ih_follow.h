/*  =========================================================================
    ih_follow - gapless reading of the hub: replay, then live, no holes

    The C API behind `incuhub tail --replay` and `incuhub replay --hub`.
    It reads the hub's stored events from the replay service (a DEALER,
    credit-based flow control, docs/protocol.md 5.5) and, if given a
    publish endpoint, then follows the live feed (SUB), handing out every
    event that matches the filters exactly once and in hub order:

      - it subscribes first and replays from the requested point to END,
        so nothing published meanwhile is missed (it waits in the SUB
        queue, or, if that overflowed, is fetched again);
      - live events it has already handed out (hub_seq below its cursor)
        are dropped;
      - a live event beyond its cursor may follow a hole (dropped by the
        PUB high-water mark, a reconnect) or only events the filters
        exclude; it cannot tell, so it asks the replay service for the
        filtered range up to that event, whose END proves the range
        complete, and hands out what that returns;
      - after a second without live events it asks for everything past its
        cursor, so a hole at the end of a burst is filled too.

        ih_follow_options_t options = {.pub = pub, .replay = replay,
                                       .from = 1, .key = "me.key",
                                       .hub_key = "hub.pub"};
        ih_follow_t *follow = ih_follow_new (&options);
        ih_follow_event_t event;
        while (ih_follow_next (follow, -1, &event) == IH_OK)
            use (event.hub_seq, event.event, event.event_size);
        ih_follow_destroy (&follow);

    Transport: with key and hub_key both sockets are CURVE clients (the
    reader authenticates the hub by its public key and itself by its own
    registered key; the hub's registry must let it read what it asks for,
    else the replay service NAKs IH_E_DENIED and the feed drops the
    subscription). Without them, plain text, which ih_follow_new allows
    only to local endpoints (ipc://, inproc://, loopback tcp://).

    A refused handshake (the reader's key is not registered yet, or no
    longer; a wrong hub key; plain text to a CURVE hub) is reported on
    stderr, at most once every 10 s per socket, and that socket is dialled
    again by itself (ih_redial: after 1 s, doubling up to 30 s, reset by a
    handshake that succeeds), since libzmq never retries such a
    connection; ih_follow_next meanwhile waits as it would for a silent
    hub. A long-running follower thus gets through once the bureau's
    change reaches the hub, without a restart.
    =========================================================================*/
#ifndef IH_FOLLOW_H_INCLUDED
#define IH_FOLLOW_H_INCLUDED

#include <czmq.h>
#include "ih_err.h"
#include "ih_event.h"

//  RECORDs granted per stream at a time.
#define IH_FOLLOW_CREDIT 1000
//  ms without a live event after which the cursor is checked by replay.
#define IH_FOLLOW_RESYNC_MS 1000
//  ms without an answer from the replay service before the stream is
//  asked for again.
#define IH_FOLLOW_STREAM_TIMEOUT 10000

typedef struct _ih_follow_t ih_follow_t;

//  One event handed out: pointers valid until the next ih_follow_next.
typedef struct {
    uint64_t hub_seq;
    uint64_t received;
    const uint8_t *event; //  the signed event
    size_t event_size;
} ih_follow_event_t;

//  What to follow and how to connect.
typedef struct {
    const char *pub;      //  live feed endpoint; NULL: replay only, up to
                          //  the END of the log as it is when the replay
                          //  gets there
    const char *replay;   //  replay service endpoint (required)
    uint64_t from;        //  first hub_seq (0 = 1)
    uint64_t from_time;   //  if not 0: start at the first event received
                          //  at or after this, ms since the epoch
    const char *district; //  filters: NULL (any) or a valid name
    const char *site;     //
    const char *type;     //
    const char *key;      //  own NAME.key (with its transport secret) and
    const char *hub_key;  //  the hub's NAME.pub: CURVE; both NULL: plain
                          //  text (local endpoints only)
} ih_follow_options_t;

//  Connects as options say; the options are copied. Returns NULL if a key
//  does not load or lacks its transport part, if one key is given
//  without the other, if plain text is asked for a non-local endpoint, or
//  if a socket cannot connect (each reported on stderr).
ih_follow_t *ih_follow_new (const ih_follow_options_t *options);

//  Frees; safe to call twice.
void ih_follow_destroy (ih_follow_t **self_p);

//  The next event, waiting at most timeout ms (-1: for ever). Returns
//  IH_OK (event set), IH_E_TIMEOUT (none in time), IH_E_MISSING (replay
//  only: the END was reached; *event unset), IH_E_INTERNAL (interrupted by
//  a signal), or the code of a NAK from the replay service.
ih_err_t ih_follow_next (ih_follow_t *self, int timeout,
                         ih_follow_event_t *event);

//  First hub_seq not yet covered: everything before it that matches the
//  filters has been handed out.
uint64_t ih_follow_cursor (ih_follow_t *self);

//  Replays started to fill holes (not counting the first one).
uint64_t ih_follow_fills (ih_follow_t *self);

#endif
