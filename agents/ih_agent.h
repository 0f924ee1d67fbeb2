/*  =========================================================================
    ih_agent - the site agent, embeddable: sign, keep, forward

    An agent runs at every district office, incubator and offshore base. It
    takes the facts a site reports (from `incuhub publish` over its listen
    socket, or in-process through ih_agent_publish), assigns the next
    per-site sequence and the previous-event hash, signs the event with the
    site's key, and commits it to its durable LMDB outbox (ih_outbox)
    before it confirms to the caller. A background actor forwards the
    outbox to the hub over a DEALER socket with a window of unacknowledged
    events in flight, resends after a reconnect, a timeout or a gap NAK,
    and deletes an event from the outbox only after the hub's ACK. It keeps
    accepting while the hub is down and drains when the hub is back.

    Transport (issue 4): with hub_key the DEALER to the hub is a CurveZMQ
    client (ih_curve): it authenticates the hub by hub_key's transport
    public key and itself with the transport secret of the site's own key
    file, which must then have one. Without hub_key it is plain text,
    allowed only when the hub endpoint stays on this machine
    (ih_curve_local; development only, logged as a warning). The listen
    socket is always plain text and so must be local too.

    incuhub-agent (agents/main.c) is a thin wrapper around this class.
    =========================================================================*/
#ifndef IH_AGENT_H_INCLUDED
#define IH_AGENT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "ih_err.h"

typedef struct {
    const char *site;     //  site id; must match the key's name
    const char *key;      //  path of the site's secret key file (.key)
    const char *hub;      //  hub ingest endpoint to connect to
    const char *outbox;   //  outbox directory (created if missing)
    const char *listen;   //  endpoint for local publishers, or NULL
    uint32_t window;      //  events in flight; 0 = default (256); at most
                          //  4096 (larger values are clamped)
    uint32_t ack_timeout; //  ms without ACK progress before resend; 0 = 3000;
                          //  doubles on each further timeout without
                          //  progress (to 60 s), reset by ACK progress
    uint64_t outbox_map;  //  LMDB map size in bytes; 0 = 1 GiB. New events
                          //  are refused (IH_E_FULL) above 90% of it
    const char *hub_key;  //  the hub's public key file (NAME.pub): CURVE;
                          //  NULL: plain text, hub must be local
} ih_agent_config_t;

typedef struct _ih_agent_t ih_agent_t;

//  Opens the outbox, loads the key, binds listen (if set), connects to the
//  hub and starts forwarding. Returns NULL and logs why on failure; *err_p
//  (if not NULL) then says which: IH_E_KEY (a key file missing or bad; with
//  hub_key: the site's key has no transport secret, or the hub's key no
//  transport public key), IH_E_KEYPERM, IH_E_WRONGSITE (outbox or key of
//  another site), IH_E_STORE, IH_E_CONFIG (bad endpoint; without hub_key
//  a hub endpoint that is not local; a listen endpoint that is not local).
ih_agent_t *ih_agent_new (const ih_agent_config_t *config, ih_err_t *err_p);

//  Stops forwarding, closes the outbox and frees; safe to call twice.
//  Events not yet acknowledged stay in the outbox for the next start.
void ih_agent_destroy (ih_agent_t **self_p);

//  Publishes one event: data is a msgpack map (see ih_json_to_msgpack).
//  Returns IH_OK once the signed event is committed to the outbox, with its
//  per-site sequence in *seq_p. Errors: IH_E_BADNAME (type), IH_E_MALFORMED
//  (data not one map), IH_E_TOOBIG, IH_E_FULL (outbox full), IH_E_STORE.
ih_err_t ih_agent_publish (ih_agent_t *self, const char *type,
                           const uint8_t *data, size_t size, uint64_t *seq_p);

//  The agent's status as a new JSON object: site, next_seq (the seq the
//  next new event gets), backlog (events in the outbox not yet
//  acknowledged), in_flight, acked (last acknowledged sequence), connected
//  (bool), hub, transport ("curve" or "plaintext"), refused (the code name
//  of the hub's last refusal while the stream is blocked by it, else
//  absent).
json_t *ih_agent_status (ih_agent_t *self);

//  The resolved listen endpoint (e.g. "tcp://127.0.0.1:41231" for
//  "tcp://127.0.0.1:*"), borrowed; NULL if the agent has no listen socket.
//  (Added by the agents/ helper.)
const char *ih_agent_endpoint (ih_agent_t *self);

//  Selftest
void ih_agent_test (bool verbose);

#endif
