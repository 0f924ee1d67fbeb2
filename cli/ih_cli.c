/*  =========================================================================
    ih_cli - helpers shared by the incuhub subcommands

    Error reporting in the one format scripts and tests parse, strict
    number parsing, the transport rule (CURVE, or plain text on this
    machine only) in one place, making and connecting a client socket, a
    bounded wait for one reply, opening the hub's log read-only, and the
    one JSON line per event that tail and replay print.
    =========================================================================*/
#include <getopt.h>
#include <stdarg.h>
#include <errno.h>
#include <sys/stat.h>
#include "ih_cli.h"
#include "ih_curve.h"
#include "ih_event.h"
#include "ih_json.h"

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

void
ih_cli_getopt_init (void)
{
    optind = 0;
    opterr = 0;
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
ih_cli_no_arguments (const char *sub, int argc, char *argv[])
{
    if (optind >= argc)
        return true;
    ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                 "unexpected argument '%s'; see --help", argv[optind]);
    return false;
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

void
ih_cli_transport_init (ih_cli_transport_t *self)
{
    assert (self);
    memset (self, 0, sizeof *self);
}

void
ih_cli_transport_end (ih_cli_transport_t *self)
{
    assert (self);
    ih_key_destroy (&self->hub_key);
    ih_key_destroy (&self->key);
}

bool
ih_cli_transport_option (ih_cli_transport_t *self, int opt, const char *arg)
{
    assert (self);
    if (opt == IH_CLI_OPT_HUB_KEY)
        self->hub_key_path = arg;
    else if (opt == IH_CLI_OPT_KEY)
        self->key_path = arg;
    else if (opt == IH_CLI_OPT_PLAINTEXT)
        self->plaintext = true;
    else
        return false;
    return true;
}

bool
ih_cli_transport_curve (ih_cli_transport_t *self)
{
    assert (self);
    return self->hub_key_path && !self->plaintext;
}

bool
ih_cli_transport_given (ih_cli_transport_t *self)
{
    assert (self);
    return self->hub_key_path || self->key_path || self->plaintext;
}

const char *
ih_cli_transport_hint (ih_cli_transport_t *self)
{
    if (self && ih_cli_transport_curve (self))
        return "; is the hub running, is our key registered (and not "
               "revoked), and is --hub-key the hub's?";
    return "; is the hub running? (a hub with CURVE needs --hub-key and "
           "--key)";
}

int
ih_cli_transport_load_hub_key (const char *sub, ih_cli_transport_t *self)
{
    assert (self);
    if (!self->hub_key_path || self->hub_key)
        return IH_CLI_OK;
    ih_err_t err = ih_key_load (self->hub_key_path, &self->hub_key);
    if (err != IH_OK)
        return ih_cli_fail (sub, err, IH_CLI_FAIL, "cannot load hub key %s: %s",
                            self->hub_key_path, ih_strerror (err));
    return IH_CLI_OK;
}

int
ih_cli_transport_check (const char *sub, ih_cli_transport_t *self,
                        const char *endpoint)
{
    assert (self);
    assert (endpoint);
    bool local = ih_curve_local (endpoint);
    if (self->plaintext) {
        if (!local)
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "%s is not local: --plaintext is only for "
                                "ipc://, inproc:// and loopback tcp:// "
                                "endpoints; use --hub-key and --key (CURVE)",
                                endpoint);
        return IH_CLI_OK;
    }
    if (!self->hub_key_path) {
        if (!local)
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "%s is not local: needs --hub-key and --key "
                                "(CURVE)",
                                endpoint);
        return IH_CLI_OK; //  plain text on this machine
    }
    if (!self->key_path)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--hub-key needs --key (your own NAME.key) for "
                            "CURVE to %s",
                            endpoint);
    int rc = ih_cli_transport_load_hub_key (sub, self);
    if (rc != IH_CLI_OK)
        return rc;
    if (!ih_key_has_curve (self->hub_key))
        return ih_cli_fail (sub, IH_E_KEY, IH_CLI_FAIL,
                            "hub key %s has no transport (curve) public key",
                            self->hub_key_path);
    if (!self->key) {
        ih_err_t err = ih_key_load (self->key_path, &self->key);
        if (err != IH_OK)
            return ih_cli_fail (sub, err, IH_CLI_FAIL, "cannot load key %s: %s",
                                self->key_path, ih_strerror (err));
    }
    if (!ih_key_has_curve_secret (self->key))
        return ih_cli_fail (sub, IH_E_KEY, IH_CLI_FAIL,
                            "key %s has no transport (curve) secret key; "
                            "make a new pair with incuhub keygen",
                            self->key_path);
    return IH_CLI_OK;
}

int
ih_cli_transport_apply (const char *sub, ih_cli_transport_t *self,
                        zsock_t *sock, const char *endpoint)
{
    assert (self);
    assert (sock);
    int rc = ih_cli_transport_check (sub, self, endpoint);
    if (rc != IH_CLI_OK || !ih_cli_transport_curve (self))
        return rc;
    ih_err_t err = ih_curve_client (sock, self->key, self->hub_key);
    if (err != IH_OK)
        return ih_cli_fail (sub, err, IH_CLI_FAIL,
                            "cannot set up CURVE to %s: %s", endpoint,
                            ih_strerror (err));
    return IH_CLI_OK;
}

ih_follow_t *
ih_cli_follow_new (ih_cli_transport_t *transport, ih_follow_options_t *options)
{
    assert (transport);
    assert (options);
    bool curve = ih_cli_transport_curve (transport);
    options->key = curve ? transport->key_path : NULL;
    options->hub_key = curve ? transport->hub_key_path : NULL;
    return ih_follow_new (options);
}

zsock_t *
ih_cli_socket (const char *sub, int type)
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
    return sock;
}

int
ih_cli_dial (const char *sub, zsock_t *sock, const char *endpoint)
{
    assert (sock);
    if (zsock_connect (sock, "%s", endpoint) == 0)
        return IH_CLI_OK;
    return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                        "cannot connect to '%s': %s", endpoint,
                        zmq_strerror (zmq_errno ()));
}

zsock_t *
ih_cli_connect (const char *sub, int type, const char *endpoint,
                ih_cli_transport_t *transport, int *status_p)
{
    int status = IH_CLI_FAIL;
    zsock_t *sock = ih_cli_socket (sub, type);
    if (!sock)
        goto cleanup;
    if (transport && (status = ih_cli_transport_apply (sub, transport, sock,
                                                       endpoint)) != IH_CLI_OK)
        goto cleanup;
    if ((status = ih_cli_dial (sub, sock, endpoint)) != IH_CLI_OK)
        goto cleanup;
    return sock;
cleanup:
    zsock_destroy (&sock);
    if (status_p)
        *status_p = status;
    return NULL;
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
ih_cli_recv_wire (zsock_t *sock, int timeout, zmsg_t **reply_p, ih_wire_t *wire)
{
    assert (wire);
    ih_err_t err = ih_cli_recv (sock, timeout, reply_p);
    if (err != IH_OK) {
        memset (wire, 0, sizeof *wire);
        return err;
    }
    return ih_wire_decode (*reply_p, wire);
}

bool
ih_cli_directory (const char *sub, const char *dir)
{
    struct stat st;
    if (stat (dir, &st) == 0 && S_ISDIR (st.st_mode))
        return true;
    ih_cli_fail (sub, IH_E_IO, IH_CLI_FAIL, "'%s' is not a directory", dir);
    return false;
}

ih_log_t *
ih_cli_log_open (const char *sub, const char *dir)
{
    if (!ih_cli_directory (sub, dir))
        return NULL;
    ih_log_t *log = ih_log_new (dir, true, 0);
    if (!log)
        ih_cli_fail (sub, IH_E_STORE, IH_CLI_FAIL,
                     "cannot open the log in %s (see above)", dir);
    return log;
}

bool
ih_cli_print_json (json_t *json, size_t flags)
{
    char *line = json_dumps (json, flags);
    if (!line)
        return false;
    puts (line);
    fflush (stdout);
    free (line);
    return true;
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
    bool printed = ih_cli_print_json (json, JSON_COMPACT);
    json_decref (json);
    return printed ? IH_OK : IH_E_INTERNAL;
}
