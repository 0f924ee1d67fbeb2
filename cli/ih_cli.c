/*  =========================================================================
    ih_cli - helpers shared by the incuhub subcommands

    Error reporting in the one format scripts and tests parse, strict
    number parsing, connecting a client socket, a bounded wait for one
    reply, and the one JSON line per event that tail and replay print.
    =========================================================================*/
#include <getopt.h>
#include <stdarg.h>
#include <errno.h>
#include "ih_cli.h"
#include "ih_event.h"
#include "ih_json.h"
#include "ih_wire.h"

int
ih_cli_fail (const char *sub, ih_err_t err, int status, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "incuhub %s: ", sub);
    vfprintf (stderr, format, args);
    fprintf (stderr, " (%s)\n", ih_err_name (err));
    va_end (args);
    return status;
}

int
ih_cli_bad_option (const char *sub, char *argv[], int opt)
{
    //  getopt_long leaves optind just past the offending word (or past the
    //  option whose argument is missing).
    const char *word = optind > 0 ? argv[optind - 1] : "?";
    if (opt == ':')
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "option '%s' needs a value; see --help", word);
    return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                        "unknown option '%s'; see --help", word);
}

bool
ih_cli_parse_u64 (const char *text, uint64_t *value_p)
{
    if (!text || *text < '0' || *text > '9')
        return false; //  strtoull would accept "-1" and " 1"
    errno = 0;
    char *end = NULL;
    unsigned long long value = strtoull (text, &end, 10);
    if (errno != 0 || *end != '\0')
        return false;
    *value_p = (uint64_t) value;
    return true;
}

bool
ih_cli_parse_timeout (const char *sub, const char *text, int *ms_p)
{
    uint64_t value = 0;
    if (!ih_cli_parse_u64 (text, &value) || value < 1 ||
        value > 24 * 3600 * 1000) {
        ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                     "--timeout wants milliseconds from 1 to 86400000, "
                     "not '%s'",
                     text);
        return false;
    }
    *ms_p = (int) value;
    return true;
}

bool
ih_cli_parse_positive (const char *sub, const char *flag, const char *what,
                       const char *text, uint64_t *value_p)
{
    if (ih_cli_parse_u64 (text, value_p) && *value_p >= 1)
        return true;
    ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE, "--%s wants %s >= 1, not '%s'",
                 flag, what, text);
    return false;
}

zsock_t *
ih_cli_connect (const char *sub, int type, const char *endpoint)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        ih_cli_fail (sub, IH_E_INTERNAL, IH_CLI_FAIL,
                     "cannot create a socket: %s", zmq_strerror (zmq_errno ()));
        return NULL;
    }
    zsock_set_maxmsgsize (sock, IH_WIRE_MAX);
    //  Leave nothing queued behind on exit: an unanswered request to a dead
    //  peer must not keep the command alive.
    zsock_set_linger (sock, 0);
    if (zsock_connect (sock, "%s", endpoint) != 0) {
        ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                     "cannot connect to '%s': %s", endpoint,
                     zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    return sock;
}

ih_err_t
ih_cli_recv (zsock_t *sock, int timeout, zmsg_t **reply_p)
{
    assert (sock);
    assert (reply_p);
    *reply_p = NULL;
    zpoller_t *poller = zpoller_new (sock, NULL);
    assert (poller);
    void *which = zpoller_wait (poller, timeout);
    bool terminated = zpoller_terminated (poller);
    zpoller_destroy (&poller);
    if (which == sock) {
        *reply_p = zmsg_recv (sock);
        if (*reply_p)
            return IH_OK;
        return IH_E_INTERNAL; //  only interruption makes a ready recv fail
    }
    if (terminated || zsys_interrupted)
        return IH_E_INTERNAL;
    return IH_E_TIMEOUT;
}

ih_err_t
ih_cli_print_event (const uint8_t *bytes, size_t size, uint64_t hub_seq,
                    uint64_t received)
{
    ih_event_t event;
    ih_err_t err = ih_event_decode (bytes, size, &event);
    if (err != IH_OK)
        return err;
    json_t *json = ih_json_event (&event, hub_seq, received);
    if (!json)
        return IH_E_MALFORMED; //  the payload did not map to JSON
    char *line = json_dumps (json, JSON_COMPACT);
    json_decref (json);
    if (!line)
        return IH_E_INTERNAL;
    fputs (line, stdout);
    fputc ('\n', stdout);
    fflush (stdout);
    free (line);
    return IH_OK;
}
