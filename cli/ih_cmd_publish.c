/*  =========================================================================
    ih_cmd_publish - `incuhub publish` and `incuhub status`

    publish is the entry of the data flow for people and scripts: it hands
    facts to the site's agent over the agent's listen socket (DEALER to its
    ROUTER). The agent signs each event, commits it to its outbox and only
    then CONFIRMs with the per-site sequence, so a printed `seq=N` means the
    event is durable at the site and will reach the hub.

    From stdin, publish pipelines: up to S_WINDOW requests are outstanding
    at once. The agent answers on one connection in request order, so the
    replies are matched to input lines by position; a ring of line numbers
    remembers which line each outstanding request came from. At the first
    bad input line or refused event publish stops sending, still collects
    the answers to what it has sent (printing their sequences), then
    reports and exits 1. A timeout gives up at once: after it the order of
    late answers could no longer be trusted.

    status asks a hub (its ingest endpoint) or an agent (its listen
    endpoint) for its STATUS and prints the JSON object.
    =========================================================================*/
#include <getopt.h>
#include <errno.h>
#include "ih_cli.h"
#include "ih_event.h"
#include "ih_json.h"
#include "ih_wire.h"

#define S_WINDOW 64

static const char *s_publish_usage =
    "Usage: incuhub publish --agent ENDPOINT --type TYPE --data JSON\n"
    "                       [--timeout MS]\n"
    "       incuhub publish --agent ENDPOINT [--timeout MS] < events.jsonl\n"
    "\n"
    "Hands events to a site's agent (its --listen endpoint), which signs\n"
    "them, stores them durably and forwards them to the hub. The agent\n"
    "confirms each event with its per-site sequence number.\n"
    "\n"
    "With --type, publishes one event whose payload is the JSON object\n"
    "--data (default {}). Without --type, reads one JSON object per line\n"
    "from stdin:\n"
    "  {\"type\": \"training.held\", \"data\": {\"participants\": 40}}\n"
    "(\"data\" defaults to {}; blank lines are skipped) and pipelines them,\n"
    "up to 64 at a time. At the first bad line or refused event it stops\n"
    "reading, waits for the events already sent, reports on stderr which\n"
    "line failed and exits 1.\n"
    "\n"
    "Options:\n"
    "  -a, --agent ENDPOINT  the agent's listen endpoint, e.g.\n"
    "                        ipc:///tmp/site/agent.ipc or tcp://host:port\n"
    "  -t, --type TYPE       event type ([a-z0-9._-]), e.g. mentor.joined\n"
    "  -d, --data JSON       payload, a JSON object\n"
    "  -T, --timeout MS      give up after MS ms without an answer\n"
    "                        (default 10000; IH_E_TIMEOUT, exit 1)\n"
    "  -h, --help            this text\n"
    "\n"
    "Prints one line per confirmed event on stdout, in input order:\n"
    "  seq=N\n";

//  Stream state: the DEALER and the ring of outstanding line numbers.
typedef struct {
    zsock_t *dealer;       //  to the agent
    const char *endpoint;  //  for messages
    int timeout;           //  ms per answer
    size_t ring[S_WINDOW]; //  input line of each outstanding request
    size_t head;           //  ring index of the oldest request
    size_t outstanding;    //  requests sent and not yet answered
    uint64_t confirmed;    //  events confirmed so far
    bool refused;          //  an event was NAKed or answered oddly
    bool broken;           //  timeout or interrupt: stop at once
    ih_err_t err;          //  first error, for the final message
} s_stream_t;

//  Handles the answer to the oldest outstanding request. Prints seq=N or
//  reports the refusal with the line number (line 0: single mode).
static void
s_stream_answer (s_stream_t *self, zmsg_t **reply_p)
{
    size_t line = self->ring[self->head];
    self->head = (self->head + 1) % S_WINDOW;
    self->outstanding--;

    char where[48] = "";
    if (line > 0)
        snprintf (where, sizeof where, "line %zu: ", line);
    ih_wire_t wire;
    ih_err_t err = ih_wire_decode (*reply_p, &wire);
    if (err == IH_OK && wire.kind == IH_WIRE_CONFIRM) {
        printf ("seq=%" PRIu64 "\n", wire.seq);
        fflush (stdout);
        self->confirmed++;
    } else if (err == IH_OK && wire.kind == IH_WIRE_NAK) {
        ih_cli_fail ("publish", wire.code, IH_CLI_FAIL,
                     "%sagent refused the event: %s", where, wire.reason);
        if (!self->refused)
            self->err = wire.code;
        self->refused = true;
    } else {
        if (err == IH_OK)
            err = IH_E_COMMAND;
        ih_cli_fail ("publish", err, IH_CLI_FAIL,
                     "%sunexpected answer from the agent", where);
        if (!self->refused)
            self->err = err;
        self->refused = true;
    }
    zmsg_destroy (reply_p);
}

//  Waits for one answer (the oldest outstanding request's). On timeout or
//  interrupt marks the stream broken.
static void
s_stream_wait (s_stream_t *self)
{
    zmsg_t *reply = NULL;
    ih_err_t err = ih_cli_recv (self->dealer, self->timeout, &reply);
    if (err == IH_OK) {
        s_stream_answer (self, &reply);
        return;
    }
    self->broken = true;
    if (err == IH_E_TIMEOUT) {
        self->err = IH_E_TIMEOUT;
        ih_cli_fail ("publish", IH_E_TIMEOUT, IH_CLI_FAIL,
                     "no answer from %s within %d ms (%zu event(s) "
                     "unconfirmed)",
                     self->endpoint, self->timeout, self->outstanding);
    } else {
        self->err = IH_E_INTERNAL;
        ih_cli_fail ("publish", IH_E_INTERNAL, IH_CLI_FAIL,
                     "interrupted (%zu event(s) unconfirmed)",
                     self->outstanding);
    }
}

//  Sends one PUBLISH for line (0 in single mode). Takes ownership of
//  nothing; data is copied into the message.
static void
s_stream_send (s_stream_t *self, const char *type, const uint8_t *data,
               size_t size, size_t line)
{
    assert (self->outstanding < S_WINDOW);
    zmsg_t *msg = ih_wire_publish (type, data, size);
    if (zmsg_send (&msg, self->dealer) != 0) {
        zmsg_destroy (&msg);
        self->broken = true;
        self->err = IH_E_INTERNAL;
        ih_cli_fail ("publish", IH_E_INTERNAL, IH_CLI_FAIL,
                     "cannot send to %s (interrupted?)", self->endpoint);
        return;
    }
    self->ring[(self->head + self->outstanding) % S_WINDOW] = line;
    self->outstanding++;
}

//  Turns a JSON payload into msgpack, or says why not into why (size
//  whylen). Returns IH_OK or the error.
static ih_err_t
s_pack_data (json_t *data, uint8_t **out_p, size_t *size_p, char *why,
             size_t whylen)
{
    if (!json_is_object (data)) {
        snprintf (why, whylen, "the payload must be a JSON object");
        return IH_E_TYPE;
    }
    ih_err_t err = ih_json_to_msgpack (data, out_p, size_p);
    if (err != IH_OK)
        snprintf (why, whylen, "payload cannot be packed: %s",
                  ih_strerror (err));
    return err;
}

//  Parses one input line into type and packed data. Returns IH_OK or the
//  error with a reason in why.
static ih_err_t
s_parse_line (const char *text, char *type, uint8_t **out_p, size_t *size_p,
              char *why, size_t whylen)
{
    json_error_t jerr;
    json_t *root = json_loads (text, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf (why, whylen, "not JSON: column %d: %s", jerr.column,
                  jerr.text);
        return IH_E_MALFORMED;
    }
    ih_err_t err = IH_OK;
    if (!json_is_object (root)) {
        snprintf (why, whylen, "not a JSON object");
        err = IH_E_TYPE;
        goto cleanup;
    }
    const char *key;
    json_t *value;
    json_object_foreach (root, key, value)
    {
        if (!streq (key, "type") && !streq (key, "data")) {
            snprintf (why, whylen,
                      "unexpected key \"%.64s\" (only \"type\" and "
                      "\"data\")",
                      key);
            err = IH_E_MALFORMED;
            goto cleanup;
        }
    }
    json_t *jtype = json_object_get (root, "type");
    if (!jtype) {
        snprintf (why, whylen, "\"type\" is missing");
        err = IH_E_MISSING;
        goto cleanup;
    }
    if (!json_is_string (jtype)) {
        snprintf (why, whylen, "\"type\" must be a string");
        err = IH_E_TYPE;
        goto cleanup;
    }
    if (!ih_event_name_valid (json_string_value (jtype))) {
        snprintf (why, whylen,
                  "\"type\" is not a valid event type "
                  "([a-z0-9._-], 1 to 64 bytes)");
        err = IH_E_BADNAME;
        goto cleanup;
    }
    strcpy (type, json_string_value (jtype));
    json_t *data = json_object_get (root, "data");
    json_t *empty = NULL;
    if (!data)
        data = empty = json_object ();
    err = s_pack_data (data, out_p, size_p, why, whylen);
    json_decref (empty);
cleanup:
    json_decref (root);
    return err;
}

static int
s_publish_stream (s_stream_t *self)
{
    char *line = NULL;
    size_t capacity = 0;
    size_t line_no = 0;
    size_t bad_line = 0;
    char why[256] = "";
    ih_err_t bad_err = IH_OK;

    while (!self->broken && !self->refused) {
        if (self->outstanding == S_WINDOW) {
            s_stream_wait (self);
            continue;
        }
        errno = 0;
        ssize_t length = getline (&line, &capacity, stdin);
        if (length < 0) {
            if (ferror (stdin)) {
                self->broken = true;
                self->err = errno == EINTR ? IH_E_INTERNAL : IH_E_IO;
                ih_cli_fail ("publish", self->err, IH_CLI_FAIL,
                             "cannot read stdin after line %zu: %s", line_no,
                             errno == EINTR ? "interrupted" : strerror (errno));
            }
            break;
        }
        line_no++;
        while (length > 0 &&
               (line[length - 1] == '\n' || line[length - 1] == '\r'))
            line[--length] = '\0';
        if (strspn (line, " \t") == (size_t) length)
            continue; //  blank
        if (strlen (line) != (size_t) length) {
            bad_line = line_no;
            bad_err = IH_E_MALFORMED;
            snprintf (why, sizeof why, "contains a NUL byte");
            break;
        }
        char type[IH_NAME_MAX + 1];
        uint8_t *data = NULL;
        size_t size = 0;
        ih_err_t err = s_parse_line (line, type, &data, &size, why, sizeof why);
        if (err != IH_OK) {
            bad_line = line_no;
            bad_err = err;
            break;
        }
        s_stream_send (self, type, data, size, line_no);
        free (data);
        //  Print what has come back already, so a slow producer sees its
        //  confirmations promptly. Reads ZMQ_EVENTS; never blocks.
        while (!self->broken && self->outstanding > 0 &&
               (zsock_events (self->dealer) & ZMQ_POLLIN))
            s_stream_wait (self);
    }
    free (line);
    //  Collect the answers to everything already sent, in order.
    while (!self->broken && self->outstanding > 0)
        s_stream_wait (self);

    if (self->broken)
        return IH_CLI_FAIL;
    if (bad_line > 0)
        return ih_cli_fail ("publish", bad_err, IH_CLI_FAIL,
                            "line %zu: %s; stopped there, %" PRIu64
                            " earlier event(s) confirmed",
                            bad_line, why, self->confirmed);
    if (self->refused)
        return ih_cli_fail ("publish", self->err, IH_CLI_FAIL,
                            "stopped at the first refused event, %" PRIu64
                            " event(s) confirmed",
                            self->confirmed);
    return IH_CLI_OK;
}

static int
s_publish_one (s_stream_t *self, const char *type, const char *data_text)
{
    const char *sub = "publish";
    json_error_t jerr;
    json_t *data = json_loads (data_text ? data_text : "{}",
                               JSON_REJECT_DUPLICATES, &jerr);
    if (!data)
        return ih_cli_fail (sub, IH_E_MALFORMED, IH_CLI_USAGE,
                            "--data is not JSON: column %d: %s", jerr.column,
                            jerr.text);
    uint8_t *packed = NULL;
    size_t size = 0;
    char why[256];
    ih_err_t err = s_pack_data (data, &packed, &size, why, sizeof why);
    json_decref (data);
    if (err != IH_OK)
        return ih_cli_fail (sub, err, IH_CLI_USAGE, "--data: %s", why);
    s_stream_send (self, type, packed, size, 0);
    free (packed);
    if (!self->broken)
        s_stream_wait (self);
    return self->broken || self->refused ? IH_CLI_FAIL : IH_CLI_OK;
}

int
ih_cmd_publish (int argc, char *argv[])
{
    const char *sub = "publish";
    const char *endpoint = NULL, *type = NULL, *data = NULL;
    int timeout = IH_CLI_TIMEOUT_DEFAULT;
    static const struct option options[] = {
        {"agent", required_argument, NULL, 'a'},
        {"type", required_argument, NULL, 't'},
        {"data", required_argument, NULL, 'd'},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":a:t:d:T:h", options, NULL)) !=
           -1) {
        switch (opt) {
        case 'a':
            endpoint = optarg;
            break;
        case 't':
            type = optarg;
            break;
        case 'd':
            data = optarg;
            break;
        case 'T':
            if (!ih_cli_parse_timeout (sub, optarg, &timeout))
                return IH_CLI_USAGE;
            break;
        case 'h':
            fputs (s_publish_usage, stdout);
            return IH_CLI_OK;
        default:
            return ih_cli_bad_option (sub, argv, opt);
        }
    }
    if (optind != argc)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "unexpected argument '%s'; see --help",
                            argv[optind]);
    if (!endpoint)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--agent is required; see --help");
    if (data && !type)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--data needs --type; see --help");
    if (type && !ih_event_name_valid (type))
        return ih_cli_fail (sub, IH_E_BADNAME, IH_CLI_USAGE,
                            "'%s' is not a valid event type ([a-z0-9._-], "
                            "1 to %d bytes)",
                            type, IH_NAME_MAX);

    s_stream_t self;
    memset (&self, 0, sizeof self);
    self.endpoint = endpoint;
    self.timeout = timeout;
    self.dealer = ih_cli_connect (sub, ZMQ_DEALER, endpoint);
    if (!self.dealer)
        return IH_CLI_USAGE;
    int rc =
        type ? s_publish_one (&self, type, data) : s_publish_stream (&self);
    zsock_destroy (&self.dealer);
    return rc;
}

//  --------------------------------------------------------------------------
//  status

static const char *s_status_usage =
    "Usage: incuhub status (--hub ENDPOINT | --agent ENDPOINT)\n"
    "                      [--timeout MS] [--pretty]\n"
    "\n"
    "Asks a hub (its ingest endpoint) or an agent (its listen endpoint)\n"
    "for its status and prints the JSON object it answers on stdout: one\n"
    "compact line, or indented with --pretty.\n"
    "\n"
    "Options:\n"
    "  -H, --hub ENDPOINT    the hub's ingest endpoint\n"
    "  -a, --agent ENDPOINT  the agent's listen endpoint\n"
    "  -T, --timeout MS      give up after MS ms (default 10000;\n"
    "                        IH_E_TIMEOUT, exit 1)\n"
    "  -p, --pretty          indent the JSON\n"
    "  -h, --help            this text\n";

int
ih_cmd_status (int argc, char *argv[])
{
    const char *sub = "status";
    const char *hub = NULL, *agent = NULL;
    int timeout = IH_CLI_TIMEOUT_DEFAULT;
    bool pretty = false;
    static const struct option options[] = {
        {"hub", required_argument, NULL, 'H'},
        {"agent", required_argument, NULL, 'a'},
        {"timeout", required_argument, NULL, 'T'},
        {"pretty", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":H:a:T:ph", options, NULL)) != -1) {
        switch (opt) {
        case 'H':
            hub = optarg;
            break;
        case 'a':
            agent = optarg;
            break;
        case 'T':
            if (!ih_cli_parse_timeout (sub, optarg, &timeout))
                return IH_CLI_USAGE;
            break;
        case 'p':
            pretty = true;
            break;
        case 'h':
            fputs (s_status_usage, stdout);
            return IH_CLI_OK;
        default:
            return ih_cli_bad_option (sub, argv, opt);
        }
    }
    if (optind != argc)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "unexpected argument '%s'; see --help",
                            argv[optind]);
    if ((hub != NULL) == (agent != NULL))
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "wants exactly one of --hub and --agent; see "
                            "--help");
    const char *endpoint = hub ? hub : agent;
    const char *peer = hub ? "hub" : "agent";

    zsock_t *dealer = ih_cli_connect (sub, ZMQ_DEALER, endpoint);
    if (!dealer)
        return IH_CLI_USAGE;
    int rc = IH_CLI_FAIL;
    zmsg_t *reply = NULL;
    json_t *json = NULL;
    zmsg_t *request = ih_wire_status_request ();
    if (zmsg_send (&request, dealer) != 0) {
        zmsg_destroy (&request);
        ih_cli_fail (sub, IH_E_INTERNAL, IH_CLI_FAIL, "cannot send to %s",
                     endpoint);
        goto cleanup;
    }
    ih_err_t err = ih_cli_recv (dealer, timeout, &reply);
    if (err == IH_E_TIMEOUT) {
        ih_cli_fail (sub, err, IH_CLI_FAIL, "no answer from %s %s within %d ms",
                     peer, endpoint, timeout);
        goto cleanup;
    }
    if (err != IH_OK) {
        ih_cli_fail (sub, err, IH_CLI_FAIL, "interrupted");
        goto cleanup;
    }
    ih_wire_t wire;
    err = ih_wire_decode (reply, &wire);
    if (err == IH_OK && wire.kind == IH_WIRE_NAK) {
        ih_cli_fail (sub, wire.code, IH_CLI_FAIL, "%s refused: %s", peer,
                     wire.reason);
        goto cleanup;
    }
    if (err != IH_OK || wire.kind != IH_WIRE_STATUS || wire.json_size == 0) {
        ih_cli_fail (sub, err != IH_OK ? err : IH_E_COMMAND, IH_CLI_FAIL,
                     "unexpected answer from %s %s", peer, endpoint);
        goto cleanup;
    }
    json_error_t jerr;
    json = json_loadb (wire.json, wire.json_size, 0, &jerr);
    if (!json || !json_is_object (json)) {
        ih_cli_fail (sub, IH_E_MALFORMED, IH_CLI_FAIL,
                     "%s answered a status that is not a JSON object", peer);
        goto cleanup;
    }
    char *text = json_dumps (json, pretty ? JSON_INDENT (2) : JSON_COMPACT);
    if (text) {
        puts (text);
        free (text);
        rc = IH_CLI_OK;
    }
cleanup:
    json_decref (json);
    zmsg_destroy (&reply);
    zsock_destroy (&dealer);
    return rc;
}
