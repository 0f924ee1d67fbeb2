/*  =========================================================================
    ih_audit_remote - the remote record source of `incuhub audit --hub`

    See ih_audit_remote.h. The stream is ih_follow in replay-only mode
    (no publish endpoint, no filters, from hub_seq 1): it grants credit,
    asks again from its cursor when the stream goes silent or the service
    is busy, and stops at END. It hands out each hub_seq at most once and
    in increasing order; a hole it does not fill (a record the hub does
    not serve) shows as a jump in hub_seq, which the audit's contiguity
    check names.
    =========================================================================*/
#include "ih_audit_remote.h"
#include "ih_checkpoint.h"
#include "ih_follow.h"
#include "ih_record.h"
#include "ih_wire.h"

ih_err_t
ih_audit_remote_read (const char *endpoint, ih_cli_transport_t *transport,
                      int timeout, ih_log_fn *fn, void *arg)
{
    assert (endpoint && transport && fn);
    ih_follow_options_t options = {.replay = endpoint, .from = 1};
    ih_follow_t *follow = ih_cli_follow_new (transport, &options);
    if (!follow)
        return IH_E_INTERNAL;
    //  One buffer for every record: header plus the largest event
    uint8_t *record = (uint8_t *) malloc (IH_RECORD_HEADER + IH_EVENT_MAX);
    assert (record);
    ih_err_t err = IH_OK;
    while (true) {
        ih_follow_event_t event;
        err = ih_follow_next (follow, timeout, &event);
        if (err == IH_E_MISSING) {
            err = IH_OK; //  END: the whole log was served
            break;
        }
        if (err != IH_OK)
            break;
        if (event.event_size > IH_EVENT_MAX) {
            err = IH_E_TOOBIG; //  the wire decoder bounds it; be sure
            break;
        }
        //  The record exactly as the hub stores it (docs/protocol.md 4)
        record[0] = IH_RECORD_VERSION;
        ih_record_put_u64 (record + 1, event.received);
        memcpy (record + IH_RECORD_HEADER, event.event, event.event_size);
        if (fn (event.hub_seq, 0, record, IH_RECORD_HEADER + event.event_size,
                arg))
            break;
    }
    free (record);
    ih_follow_destroy (&follow);
    return err;
}

ih_err_t
ih_audit_remote_checkpoint (const char *endpoint, ih_cli_transport_t *transport,
                            uint64_t size, int timeout, uint8_t *bytes,
                            size_t *size_p)
{
    assert (endpoint && transport && bytes && size_p);
    zsock_t *dealer =
        ih_cli_connect ("audit", ZMQ_DEALER, endpoint, transport, NULL);
    if (!dealer)
        return IH_E_INTERNAL; //  reported
    zmsg_t *msg = ih_wire_checkpoint_request (size);
    zmsg_send (&msg, dealer);
    zmsg_destroy (&msg); //  if unsent; the wait below then times out
    ih_wire_t wire;
    ih_err_t err = ih_cli_recv_wire (dealer, timeout, &msg, &wire);
    if (err == IH_OK) {
        if (wire.kind == IH_WIRE_NAK)
            err = wire.code;
        else if (wire.kind != IH_WIRE_SIGNED_CHECKPOINT)
            err = IH_E_COMMAND;
        else if (wire.checkpoint_size > IH_CHECKPOINT_MAX)
            err = IH_E_TOOBIG;
        else {
            memcpy (bytes, wire.checkpoint, wire.checkpoint_size);
            *size_p = wire.checkpoint_size;
        }
    }
    zmsg_destroy (&msg);
    zsock_destroy (&dealer);
    return err;
}
