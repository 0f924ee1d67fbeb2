/*  =========================================================================
    ih_err - the one error enum of incuhub

    Every code that can reach the wire (a NAK) or the command line (stderr and
    the exit status) is listed here. The numbers are part of the protocol
    (docs/protocol.md): only add new ones at the end, never renumber.
    =========================================================================*/
#ifndef IH_ERR_H_INCLUDED
#define IH_ERR_H_INCLUDED

#include <stdbool.h>

typedef enum {
    IH_OK = 0,
    IH_E_MALFORMED = 1,    //  not valid msgpack, or not the expected shape
    IH_E_TRAILING = 2,     //  bytes after the end of the message
    IH_E_TOOBIG = 3,       //  message, field or value larger than allowed
    IH_E_BADSIG = 4,       //  signature does not verify
    IH_E_UNKNOWN_SITE = 5, //  site not in the registry
    IH_E_STORE = 6,        //  not stored: storage failure, see the log
    IH_E_GAP = 7,          //  sequence beyond the next expected one
    IH_E_FRAMES = 8,       //  wrong number of frames for the command
    IH_E_COMMAND = 9,      //  unknown command
    IH_E_VERSION = 10,     //  unsupported protocol or event version
    IH_E_MISSING = 11,     //  a required field is missing
    IH_E_TYPE = 12,        //  a field has the wrong type
    IH_E_CHAIN = 13,       //  prev hash is not the hash of the previous event
    IH_E_CONFLICT = 14,    //  sequence already used by a different event
    IH_E_DUPLICATE = 15,   //  identical event already stored (ACKed again)
    IH_E_BADNAME = 16,     //  site id or event type has invalid characters
    IH_E_KEY = 17,         //  key file missing, unreadable or invalid
    IH_E_KEYPERM = 18,     //  secret key file readable by group or others
    IH_E_IO = 19,          //  file system error
    IH_E_CONFIG = 20,      //  invalid configuration or registry
    IH_E_FULL = 21,        //  storage full (LMDB map or disk)
    IH_E_TIMEOUT = 22,     //  no answer in time
    IH_E_BADARG = 23,      //  invalid argument from the caller
    IH_E_INTERNAL = 24,    //  internal error, see the log
    IH_E_WRONGSITE = 25,   //  outbox or event belongs to another site
    IH_E_PROOF = 26,       //  Merkle proof does not verify
    IH_E_DENIED = 27,      //  the site's kind may not publish or read this
    IH_E_IMPERSONATE = 28, //  event for a site other than the connection's
    IH_E_REVOKED = 29,     //  the site's key was revoked
    IH_E_REGISTRY = 30,    //  invalid registry change (unknown site, ...)
    IH_E_ERR_MAX = 30
} ih_err_t;

//  Returns a short constant name for the code, e.g. "IH_E_GAP".
const char *ih_err_name (ih_err_t err);
//  Returns a one-line English description; never NULL.
const char *ih_strerror (ih_err_t err);

//  True if errnum, returned by a write under dir, means the disk is full:
//  ENOSPC or EDQUOT, or EIO while dir's file system has less than 1 MiB
//  available (LMDB reports a short write as EIO). Callers then answer
//  IH_E_FULL (retry later) instead of IH_E_STORE.
bool ih_err_disk_full (int errnum, const char *dir);

//  Selftest
void ih_err_test (bool verbose);

#endif
