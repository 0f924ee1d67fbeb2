/*  =========================================================================
    ih_journal - the bureau's registry journal: registry changes, signed,
    one per line, waiting to be (or already) in the hub's log

    `incuhub site add|rotate|revoke|permit` signs each registry change as
    the next event of the bureau site (proto/ih_regchange.h) and appends it
    to this file; the file is the bureau's own record of its chain (the
    last line gives the next seq and prev hash). The events get into the
    log in either of two ways, both through the hub's full checks
    (ih_registry_admit), so the file is a transport, not a trust anchor:
    - `--hub ENDPOINT` on the same command sends the journal's events to
      the hub's ingest socket (duplicates are ACKed again);
    - a hub started with `--registry FILE` reads the file at start and
      again whenever it changes (checked when an event arrives from an
      unknown site or fails its signature, at most once a second).

    Format: text, one line per signed event, the event bytes in lower-case
    hex, '\n'-terminated. Appends write the whole line with one write(2)
    and fsync the file (and its directory when it was created). A last line
    without its '\n' (a torn append) is ignored by readers and cut off by
    the next append.
    =========================================================================*/
#ifndef IH_JOURNAL_H_INCLUDED
#define IH_JOURNAL_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ih_err.h"
#include "ih_key.h"
#include "ih_regchange.h"

//  Signs change as the next event of bureau's site (seq and prev from the
//  journal's last event; seq 1 and zero prev for a new journal) and
//  appends it. *bytes_p/*size_p (if not NULL) get a malloc'ed copy of the
//  signed event. Errors: IH_E_BADARG (bureau without secret), IH_E_IO,
//  IH_E_MALFORMED (a line that is not hex of a decodable event),
//  IH_E_WRONGSITE (the journal holds another site's events).
ih_err_t ih_journal_append (const char *path, ih_key_t *bureau,
                            const ih_regchange_t *change, uint8_t **bytes_p,
                            size_t *size_p);

//  Callback: one signed event (bytes valid during the call only), its
//  1-based line number. Return 0 to go on.
typedef int (ih_journal_fn) (const uint8_t *bytes, size_t size, size_t line,
                             void *arg);

//  Calls fn for every complete line. A missing file is IH_E_IO. A line
//  that is not even-length lower-case hex of at most IH_EVENT_MAX bytes is
//  IH_E_MALFORMED (logged with its line number; lines before it were
//  passed). Does not decode or verify the events.
ih_err_t ih_journal_read (const char *path, ih_journal_fn *fn, void *arg);

//  Selftest
void ih_journal_test (bool verbose);

#endif
