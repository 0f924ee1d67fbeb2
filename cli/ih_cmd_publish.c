/*  =========================================================================
    ih_cmd_publish - `incuhub publish` and `incuhub status`

    publish is the entry of the data flow for people and scripts: it hands
    facts to the site's agent over the agent's listen socket (DEALER to its
    ROUTER). The agent signs each event, commits it to its outbox and only
    then CONFIRMs with the per-site sequence, so a printed `seq=N` means the
    event is durable at the site and will reach the hub.

    From stdin, publish pipelines: up to S_WINDOW requests are outstanding
    at once. Each PUBLISH carries a request tag (an 8-byte counter) that
    the agent echoes in its CONFIRM or NAK, and answers are matched by tag,
    never by position: if the agent restarts mid-stream, the requests the
    old agent swallowed are never answered while those still queued in
    our socket are answered by the new one, so position would attribute
    the new agent's sequences to lost lines. Answers with an unknown tag
    (or none) are ignored.

    Nothing is ever resent: a resent PUBLISH is a new event with a new seq,
    so resending one that had in fact been stored would store it twice.
    When the connection drops (the socket monitor says so) publish stops
    reading input and collects what answers still come; an answer to a
    later request proves that the earlier unanswered ones are lost (the
    agent answers in order). Every request left without an answer, by then
    or at the timeout, is reported on stderr as "line N: no answer; it may
    or may not have been stored", and publish exits 1. A seq= line is
    printed only for a CONFIRM carrying that line's tag.

    At the first bad input line or refused event publish likewise stops
    sending, still collects the answers to what it has sent (printing
    their sequences), then reports and exits 1.

    status asks a hub (its ingest endpoint) or an agent (its listen
    endpoint) for its STATUS and prints the JSON object. To a hub it
    connects under the transport options of ih_cli.h (CURVE with --hub-key
    and --key); an agent's listen socket is local and plain text.
    =========================================================================*/
#include <getopt.h>
#include <errno.h>
#include "ih_cli.h"
#include "ih_event.h"
#include "ih_json.h"
#include "ih_record.h"
#include "ih_wire.h"

#define S_WINDOW 64
#define S_TAG_SIZE 8

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
    "up to 64 at a time. At the first bad line, refused event or lost\n"
    "connection it stops reading, waits for the events already sent,\n"
    "reports on stderr which line failed and exits 1. An event sent but\n"
    "never answered (agent restarted, timeout) is reported as\n"
    "  line N: no answer; it may or may not have been stored\n"
    "and is never resent (that could store it twice): check it with the\n"
    "hub (incuhub replay) before publishing it again.\n"
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
    "  seq=N            (with --type)\n"
    "  seq=N line=L     (from stdin; L is the input line number)\n";

//  One request sent and not yet answered.
typedef struct {
    uint64_t tag; //  its request tag
    size_t line;  //  its input line (0 in single mode)
} s_pending_t;

//  Stream state: the DEALER, its monitor and the outstanding requests.
typedef struct {
    zsock_t *dealer;               //  to the agent
    zactor_t *monitor;             //  zmonitor on dealer (DISCONNECTED)
    zpoller_t *poller;             //  dealer and monitor
    const char *endpoint;          //  for messages
    int timeout;                   //  ms per answer
    s_pending_t pending[S_WINDOW]; //  outstanding, oldest first (a ring)
    size_t head;                   //  ring index of the oldest request
    size_t outstanding;            //  requests sent and not yet answered
    uint64_t next_tag;             //  tag of the next request
    uint64_t confirmed;            //  events confirmed so far
    uint64_t unknown;              //  requests that got no answer
    uint64_t ignored;              //  answers with no or an unknown tag
    size_t last_sent;              //  input line of the last request
    bool refused;                  //  an event was NAKed or answered oddly
    bool dropped;                  //  the connection dropped
    bool broken;                   //  timeout or interrupt: stop at once
    ih_err_t err;                  //  first error, for the final message
} s_stream_t;

//  Reports the oldest outstanding request as unanswered and drops it.
static void
s_stream_unknown (s_stream_t *self, ih_err_t why)
{
    assert (self->outstanding > 0);
    size_t line = self->pending[self->head].line;
    self->head = (self->head + 1) % S_WINDOW;
    self->outstanding--;
    self->unknown++;
    if (line > 0)
        ih_cli_fail ("publish", why, IH_CLI_FAIL,
                     "line %zu: no answer; it may or may not have been stored",
                     line);
    else
        ih_cli_fail ("publish", why, IH_CLI_FAIL,
                     "no answer; the event may or may not have been stored");
}

//  Handles one answer: finds its request by tag (ignoring it if there is
//  none), prints seq=N or reports the refusal with the line number.
static void
s_stream_answer (s_stream_t *self, zmsg_t **reply_p)
{
    ih_wire_t wire;
    ih_err_t err = ih_wire_decode (*reply_p, &wire);
    size_t index = S_WINDOW;
    if (wire.tag && wire.tag_size == S_TAG_SIZE) {
        uint64_t tag = ih_record_get_u64 (wire.tag);
        for (size_t i = 0; i < self->outstanding; i++)
            if (self->pending[(self->head + i) % S_WINDOW].tag == tag) {
                index = i;
                break;
            }
    }
    if (index == S_WINDOW) {
        //  Not ours (late, or from an agent that does not echo tags)
        self->ignored++;
        zmsg_destroy (reply_p);
        return;
    }
    //  The agent answers in order: requests older than this one that are
    //  still unanswered were lost with a previous connection.
    while (index-- > 0)
        s_stream_unknown (self, IH_E_IO);
    size_t line = self->pending[self->head].line;
    self->head = (self->head + 1) % S_WINDOW;
    self->outstanding--;

    char where[48] = "";
    if (line > 0)
        snprintf (where, sizeof where, "line %zu: ", line);
    if (err == IH_OK && wire.kind == IH_WIRE_CONFIRM) {
        if (line > 0)
            printf ("seq=%" PRIu64 " line=%zu\n", wire.seq, line);
        else
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

//  Reads the monitor's events; a DISCONNECTED marks the stream dropped.
static void
s_stream_monitor (s_stream_t *self)
{
    zsock_t *sock = zactor_sock (self->monitor);
    while (zsock_events (sock) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (sock);
        if (!msg)
            break;
        char *event = zmsg_popstr (msg);
        if (event && streq (event, "DISCONNECTED") && !self->dropped) {
            self->dropped = true;
            ih_cli_fail ("publish", IH_E_IO, IH_CLI_FAIL,
                         "lost the connection to %s after sending line %zu; "
                         "stopping (%zu event(s) awaiting an answer)",
                         self->endpoint, self->last_sent, self->outstanding);
        }
        zstr_free (&event);
        zmsg_destroy (&msg);
    }
}

//  Waits up to timeout ms (0: just looks) for an answer that matches an
//  outstanding request, handling monitor events and ignored answers on
//  the way. Returns true if one was handled. With timeout > 0, a timeout
//  or an interrupt reports every outstanding request as unknown and marks
//  the stream broken.
static bool
s_stream_wait (s_stream_t *self, int timeout)
{
    int64_t deadline = zclock_mono () + timeout;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        if (left < 0)
            left = 0;
        void *which = zpoller_wait (self->poller, (int) left);
        if (zpoller_terminated (self->poller) || zsys_interrupted) {
            self->broken = true;
            self->err = IH_E_INTERNAL;
            ih_cli_fail ("publish", IH_E_INTERNAL, IH_CLI_FAIL,
                         "interrupted (%zu event(s) unanswered)",
                         self->outstanding);
            while (self->outstanding > 0)
                s_stream_unknown (self, IH_E_INTERNAL);
            return false;
        }
        if (which == zactor_sock (self->monitor))
            s_stream_monitor (self);
        else if (which == self->dealer) {
            size_t before = self->outstanding;
            zmsg_t *reply = zmsg_recv (self->dealer);
            if (reply)
                s_stream_answer (self, &reply);
            if (self->outstanding < before)
                return true;
        } else if (timeout == 0)
            return false;
        else if (zclock_mono () >= deadline)
            break;
    }
    self->broken = true;
    self->err = IH_E_TIMEOUT;
    ih_cli_fail ("publish", IH_E_TIMEOUT, IH_CLI_FAIL,
                 "no answer from %s within %d ms (%zu event(s) "
                 "unanswered)%s",
                 self->endpoint, timeout, self->outstanding,
                 self->ignored ? "; the agent's answers carry no request "
                                 "tag (an older agent?)"
                               : "");
    while (self->outstanding > 0)
        s_stream_unknown (self, IH_E_TIMEOUT);
    return false;
}

//  Sends one PUBLISH for line (0 in single mode) under a new tag. Takes
//  ownership of nothing; data is copied into the message.
static void
s_stream_send (s_stream_t *self, const char *type, const uint8_t *data,
               size_t size, size_t line)
{
    assert (self->outstanding < S_WINDOW);
    uint64_t tag = ++self->next_tag;
    uint8_t tag_bytes[S_TAG_SIZE];
    ih_record_put_u64 (tag_bytes, tag);
    zmsg_t *msg =
        ih_wire_publish_tagged (type, data, size, tag_bytes, S_TAG_SIZE);
    if (zmsg_send (&msg, self->dealer) != 0) {
        zmsg_destroy (&msg);
        self->broken = true;
        self->err = IH_E_INTERNAL;
        ih_cli_fail ("publish", IH_E_INTERNAL, IH_CLI_FAIL,
                     "cannot send to %s (interrupted?)", self->endpoint);
        return;
    }
    s_pending_t *slot =
        &self->pending[(self->head + self->outstanding) % S_WINDOW];
    slot->tag = tag;
    slot->line = line;
    self->outstanding++;
    self->last_sent = line;
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

    while (!self->broken && !self->refused && !self->dropped) {
        if (self->outstanding == S_WINDOW) {
            s_stream_wait (self, self->timeout);
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
        //  confirmations promptly, and notice a dropped connection. Never
        //  blocks.
        while (!self->broken && s_stream_wait (self, 0))
            ;
    }
    free (line);
    //  Collect the answers to everything already sent.
    while (!self->broken && self->outstanding > 0)
        s_stream_wait (self, self->timeout);

    if (self->broken)
        return IH_CLI_FAIL;
    if (self->dropped || self->unknown)
        return ih_cli_fail ("publish", IH_E_IO, IH_CLI_FAIL,
                            "stopped after line %zu: %" PRIu64
                            " event(s) confirmed, %" PRIu64
                            " without an answer (see above)",
                            self->last_sent, self->confirmed, self->unknown);
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
    //  A dropped connection is no reason to stop here: a request still
    //  queued in the socket is answered after the reconnect.
    while (!self->broken && self->outstanding > 0)
        s_stream_wait (self, self->timeout);
    return self->broken || self->refused || self->unknown ? IH_CLI_FAIL
                                                          : IH_CLI_OK;
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
    ih_cli_getopt_init ();
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
    if (!ih_cli_no_arguments (sub, argc, argv))
        return IH_CLI_USAGE;
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
    self.dealer = ih_cli_socket (sub, ZMQ_DEALER);
    if (!self.dealer)
        return IH_CLI_FAIL;
    //  The monitor must run before the connect, or the first events of the
    //  connection are not seen.
    self.monitor = zactor_new (zmonitor, self.dealer);
    assert (self.monitor);
    zstr_sendx (self.monitor, "LISTEN", "DISCONNECTED", NULL);
    zstr_send (self.monitor, "START");
    zsock_wait (self.monitor);
    int rc = ih_cli_dial (sub, self.dealer, endpoint);
    if (rc != IH_CLI_OK)
        goto cleanup;
    self.poller = zpoller_new (self.dealer, zactor_sock (self.monitor), NULL);
    assert (self.poller);
    rc = type ? s_publish_one (&self, type, data) : s_publish_stream (&self);
cleanup:
    zpoller_destroy (&self.poller);
    zactor_destroy (&self.monitor);
    zsock_destroy (&self.dealer);
    return rc;
}

//  --------------------------------------------------------------------------
//  status

static const char *s_status_usage =
    "Usage: incuhub status --hub ENDPOINT [--hub-key FILE --key FILE |\n"
    "                      --plaintext] [--timeout MS] [--pretty]\n"
    "       incuhub status --agent ENDPOINT [--timeout MS] [--pretty]\n"
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
    "  -h, --help            this text\n"
    "\nWith --hub:\n" IH_CLI_TRANSPORT_HELP;

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
        IH_CLI_TRANSPORT_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    ih_cli_transport_t transport;
    ih_cli_transport_init (&transport);
    ih_cli_getopt_init ();
    int opt;
    while ((opt = getopt_long (argc, argv, ":H:a:T:ph", options, NULL)) != -1) {
        if (ih_cli_transport_option (&transport, opt, optarg))
            continue;
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
    if (!ih_cli_no_arguments (sub, argc, argv))
        return IH_CLI_USAGE;
    if ((hub != NULL) == (agent != NULL))
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "wants exactly one of --hub and --agent; see "
                            "--help");
    if (agent && ih_cli_transport_given (&transport))
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--hub-key, --key and --plaintext are for --hub "
                            "(an agent's listen endpoint is local)");
    const char *endpoint = hub ? hub : agent;
    const char *peer = hub ? "hub" : "agent";

    int rc = IH_CLI_FAIL;
    zsock_t *dealer = ih_cli_connect (sub, ZMQ_DEALER, endpoint,
                                      hub ? &transport : NULL, &rc);
    ih_cli_transport_end (&transport);
    if (!dealer)
        return rc;
    rc = IH_CLI_FAIL;
    zmsg_t *reply = NULL;
    json_t *json = NULL;
    zmsg_t *request = ih_wire_status_request ();
    if (zmsg_send (&request, dealer) != 0) {
        zmsg_destroy (&request);
        ih_cli_fail (sub, IH_E_INTERNAL, IH_CLI_FAIL, "cannot send to %s",
                     endpoint);
        goto cleanup;
    }
    ih_wire_t wire;
    ih_err_t err = ih_cli_recv_wire (dealer, timeout, &reply, &wire);
    if (err == IH_E_TIMEOUT) {
        ih_cli_fail (sub, err, IH_CLI_FAIL,
                     "no answer from %s %s within %d ms%s", peer, endpoint,
                     timeout, hub ? ih_cli_transport_hint (&transport) : "");
        goto cleanup;
    }
    if (err == IH_E_INTERNAL) {
        ih_cli_fail (sub, err, IH_CLI_FAIL, "interrupted");
        goto cleanup;
    }
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
    if (ih_cli_print_json (json, pretty ? JSON_INDENT (2) : JSON_COMPACT))
        rc = IH_CLI_OK;
cleanup:
    json_decref (json);
    zmsg_destroy (&reply);
    zsock_destroy (&dealer);
    return rc;
}
