/*  =========================================================================
    ih_err - names and descriptions of incuhub's error codes

    Used by every component to turn an ih_err_t into a log line, a NAK reason
    or a command-line message. The table is indexed by code.
    =========================================================================*/
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/statvfs.h>
#include <czmq.h>
#include "ih_err.h"

static const struct {
    const char *name;
    const char *text;
} s_errors[] = {
    {"IH_OK", "success"},
    {"IH_E_MALFORMED", "malformed message"},
    {"IH_E_TRAILING", "trailing bytes after message"},
    {"IH_E_TOOBIG", "message or field too big"},
    {"IH_E_BADSIG", "signature does not verify"},
    {"IH_E_UNKNOWN_SITE", "unknown site"},
    {"IH_E_STORE", "storage failure"},
    {"IH_E_GAP", "sequence gap"},
    {"IH_E_FRAMES", "wrong number of frames"},
    {"IH_E_COMMAND", "unknown command"},
    {"IH_E_VERSION", "unsupported version"},
    {"IH_E_MISSING", "missing field"},
    {"IH_E_TYPE", "field has wrong type"},
    {"IH_E_CHAIN", "previous-event hash does not match"},
    {"IH_E_CONFLICT", "sequence already used by a different event"},
    {"IH_E_DUPLICATE", "duplicate of a stored event"},
    {"IH_E_BADNAME", "invalid site id or event type"},
    {"IH_E_KEY", "key file missing or invalid"},
    {"IH_E_KEYPERM", "secret key file is readable by others"},
    {"IH_E_IO", "file system error"},
    {"IH_E_CONFIG", "invalid configuration"},
    {"IH_E_FULL", "storage full"},
    {"IH_E_TIMEOUT", "timed out"},
    {"IH_E_BADARG", "invalid argument"},
    {"IH_E_INTERNAL", "internal error"},
    {"IH_E_WRONGSITE", "belongs to another site"},
    {"IH_E_PROOF", "proof does not verify"},
    {"IH_E_DENIED", "not permitted for this site's kind"},
    {"IH_E_IMPERSONATE", "event for a site other than the connection's"},
    {"IH_E_REVOKED", "the site's key is revoked"},
    {"IH_E_REGISTRY", "invalid registry change"},
};

const char *
ih_err_name (ih_err_t err)
{
    if ((int) err < 0 || err > IH_E_ERR_MAX)
        return "IH_E_UNKNOWN";
    return s_errors[err].name;
}

const char *
ih_strerror (ih_err_t err)
{
    if ((int) err < 0 || err > IH_E_ERR_MAX)
        return "unknown error";
    return s_errors[err].text;
}

bool
ih_err_disk_full (int errnum, const char *dir)
{
    if (errnum == ENOSPC || errnum == EDQUOT)
        return true;
    struct statvfs fs;
    return errnum == EIO && dir && statvfs (dir, &fs) == 0 &&
           (unsigned long long) fs.f_bavail * fs.f_frsize < 1024 * 1024;
}

void
ih_err_test (bool verbose)
{
    if (verbose)
        printf (" * ih_err: ");
    assert (sizeof (s_errors) / sizeof (s_errors[0]) == IH_E_ERR_MAX + 1);
    assert (streq (ih_err_name (IH_E_GAP), "IH_E_GAP"));
    assert (streq (ih_err_name (IH_E_WRONGSITE), "IH_E_WRONGSITE"));
    assert (streq (ih_err_name (IH_E_PROOF), "IH_E_PROOF"));
    //  The security codes (issue 4): numbers are protocol, never renumbered
    assert (IH_E_DENIED == 27 && IH_E_IMPERSONATE == 28 && IH_E_REVOKED == 29 &&
            IH_E_REGISTRY == 30);
    assert (streq (ih_err_name (IH_E_DENIED), "IH_E_DENIED"));
    assert (streq (ih_err_name (IH_E_IMPERSONATE), "IH_E_IMPERSONATE"));
    assert (streq (ih_err_name (IH_E_REVOKED), "IH_E_REVOKED"));
    assert (streq (ih_err_name (IH_E_REGISTRY), "IH_E_REGISTRY"));
    assert (streq (ih_err_name (IH_E_ERR_MAX), "IH_E_REGISTRY"));
    assert (
        streq (ih_err_name ((ih_err_t) (IH_E_ERR_MAX + 1)), "IH_E_UNKNOWN"));
    assert (streq (ih_err_name ((ih_err_t) -1), "IH_E_UNKNOWN"));
    assert (streq (ih_strerror ((ih_err_t) -1), "unknown error"));
    //  Every code has a distinct name and a description
    for (int i = 0; i <= IH_E_ERR_MAX; i++) {
        assert (strncmp (ih_err_name ((ih_err_t) i), "IH_", 3) == 0);
        assert (strlen (ih_strerror ((ih_err_t) i)) > 0);
        for (int j = 0; j < i; j++)
            assert (!streq (ih_err_name ((ih_err_t) i),
                            ih_err_name ((ih_err_t) j)));
    }
    assert (streq (ih_err_name ((ih_err_t) 999), "IH_E_UNKNOWN"));
    assert (strlen (ih_strerror (IH_E_BADSIG)) > 0);
    assert (ih_err_disk_full (ENOSPC, NULL));
    assert (ih_err_disk_full (EDQUOT, "/"));
    assert (!ih_err_disk_full (EACCES, "/"));
    assert (!ih_err_disk_full (EIO, "/nonexistent-dir-ih"));
    if (verbose)
        printf ("OK\n");
}
