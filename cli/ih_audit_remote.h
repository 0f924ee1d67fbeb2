/*  =========================================================================
    ih_audit_remote - the remote record source of `incuhub audit --hub`

    Where it sits: between the hub's replay service (docs/protocol.md 5.5)
    and the audit's per-record checks in ih_cmd_audit.c. The local audit
    reads the hub's stored records with ih_log_read_raw; the remote audit
    gets the same records over the wire instead: it streams the whole log
    unfiltered, from hub_seq 1 to END, with credit flow control (through
    ih_follow), and rebuilds each record's exact stored bytes from RECORD
    (version 1 || received BE64 || signed event, section 4), so the leaf
    hashes, and with them the recomputed Merkle tree, are those of the
    hub's own log. It also fetches signed checkpoints (CHECKPOINT).

    It trusts nothing it receives: the caller checks every record and
    checkpoint exactly as the local audit does. The connections follow the
    command's transport options (ih_cli.h): CURVE with --hub-key and
    --key, which the hub's registry must let read everything (an auditor),
    else plain text on this machine only.
    =========================================================================*/
#ifndef IH_AUDIT_REMOTE_H_INCLUDED
#define IH_AUDIT_REMOTE_H_INCLUDED

#include <czmq.h>
#include "ih_cli.h"
#include "ih_err.h"
#include "ih_log.h"

//  Streams every record of the hub's log from hub_seq 1 to the END of the
//  log as it is when the stream gets there, in the order served, calling
//  fn (hub_seq, 0, record, record_size, arg) for each with the record
//  rebuilt as stored (the same contract as ih_log_read_raw: received is
//  passed as 0, the caller splits the record). fn returns non-zero to
//  stop; that returns IH_OK. timeout is the ms to wait for each message
//  of the service. transport was checked for endpoint
//  (ih_cli_transport_check). Errors: IH_E_TIMEOUT (silence for timeout
//  ms), IH_E_INTERNAL (interrupted by a signal, or the endpoint does not
//  connect), IH_E_TOOBIG (an event that cannot form a record), or the
//  code of a NAK from the replay service (IH_E_DENIED: the registry does
//  not let our key read everything).
ih_err_t ih_audit_remote_read (const char *endpoint,
                               ih_cli_transport_t *transport, int timeout,
                               ih_log_fn *fn, void *arg);

//  Fetches the hub's stored signed checkpoint of tree size `size` (0: the
//  latest) into bytes (IH_CHECKPOINT_MAX bytes), its length into
//  *size_p. Checks the answer's shape, not its content or signature.
//  Errors: IH_E_MISSING (the hub has no such checkpoint), IH_E_TIMEOUT,
//  IH_E_INTERNAL (interrupted, or the endpoint does not connect),
//  IH_E_COMMAND (an answer that is not SIGNED-CHECKPOINT or NAK), the
//  answer's decode error, or the code of another NAK.
ih_err_t ih_audit_remote_checkpoint (const char *endpoint,
                                     ih_cli_transport_t *transport,
                                     uint64_t size, int timeout, uint8_t *bytes,
                                     size_t *size_p);

#endif
