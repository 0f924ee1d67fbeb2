/*  =========================================================================
    ih_cmd_read - `incuhub tail` and `incuhub replay`

    The reading end of the data flow. tail follows the hub's PUB socket
    live: it subscribes with the longest topic prefix its filters fix
    (topic = "<district>/<site>/<type>/") and checks every message against
    all the filters, since a type filter without a site cannot be a
    prefix. replay reads the hub's stored log from its LMDB directory,
    read-only, so it works next to a running hub. Both print each event as
    one compact JSON line (ih_json_event) and nothing else on stdout.

    Like any ZeroMQ subscriber, plain tail misses events published before
    its subscription reached the hub and those the hub dropped for it. With
    --replay (the hub's replay service) tail is gapless instead: ih_follow
    replays from --from, switches to live, drops duplicates and fills any
    hole from the replay service. replay --hub reads the same service
    remotely, with credit-based flow control.

    Whatever talks to the hub takes the transport options of ih_cli.h
    (--hub-key and --key for CURVE, --plaintext for development), checked
    for every endpoint before anything connects.
    =========================================================================*/
#include <getopt.h>
#include "ih_cli.h"
#include "ih_event.h"
#include "ih_json.h"
#include "ih_wire.h"
#include "ih_log.h"
#include "ih_follow.h"

#define S_JSON_LINE                                                            \
    "  {\"hub_seq\":N,\"site\":S,\"seq\":N,\"ts\":N,\"type\":S,"               \
    "\"received\":N,\"data\":{...}}\n"

//  --------------------------------------------------------------------------
//  tail

static const char *s_tail_usage =
    "Usage: incuhub tail --hub ENDPOINT [--district D] [--site S]\n"
    "                    [--type T] [--count N] [--timeout MS]\n"
    "                    [--replay ENDPOINT --from SEQ]\n"
    "                    [--hub-key FILE --key FILE | --plaintext]\n"
    "\n"
    "Follows the hub's live event feed (its publish endpoint) and prints\n"
    "one compact JSON line per event on stdout, flushed at once:\n" S_JSON_LINE
    "(ts: the site's clock, received: the hub's; both ms since the epoch).\n"
    "Events published before tail subscribed are not shown; see replay.\n"
    "\n"
    "Options:\n"
    "  -H, --hub ENDPOINT   the hub's publish endpoint\n"
    "  -D, --district D     only events from sites of district D\n"
    "  -s, --site S         only events from site S\n"
    "  -t, --type T         only events of type T\n"
    "  -n, --count N        stop after N events\n"
    "  -R, --replay EP      the hub's replay endpoint: gapless catch-up;\n"
    "                       every event from --from on is printed exactly\n"
    "                       once, in hub order, holes filled by replay\n"
    "  -f, --from SEQ       first hub sequence (with --replay; default 1)\n"
    "  -T, --timeout MS     stop after MS ms without an event (default:\n"
    "                       wait for ever); exit 1 (IH_E_TIMEOUT) if\n"
    "                       --count was given and not reached, else "
    "0\n" IH_CLI_TRANSPORT_HELP "  -h, --help           this text\n"
    "\n"
    "Over CURVE the hub sends only what the registry lets your key read\n"
    "(a subscription beyond it is dropped; --district or --site may be\n"
    "needed). SIGINT or SIGTERM stop it with exit status 0.\n";

//  The --district, --site and --type filters of tail and replay --hub.
typedef struct {
    const char *district; //  NULL: any
    const char *site;     //  NULL: any
    const char *type;     //  NULL: any
} s_filters_t;

//  Handles -D, -s or -t. Returns false if opt is none of them.
static bool
s_filter_option (s_filters_t *self, int opt, const char *arg)
{
    if (opt == 'D')
        self->district = arg;
    else if (opt == 's')
        self->site = arg;
    else if (opt == 't')
        self->type = arg;
    else
        return false;
    return true;
}

static bool
s_filter_ok (const char *sub, const char *option, const char *value)
{
    if (!value || ih_event_name_valid (value))
        return true;
    ih_cli_fail (sub, IH_E_BADNAME, IH_CLI_USAGE,
                 "--%s '%s' is not a valid name ([a-z0-9._-], 1 to %d bytes)",
                 option, value, IH_NAME_MAX);
    return false;
}

//  True if each filter given is a valid name; else reports the first bad
//  one (IH_E_BADNAME) and returns false.
static bool
s_filters_ok (const char *sub, const s_filters_t *self)
{
    return s_filter_ok (sub, "district", self->district) &&
           s_filter_ok (sub, "site", self->site) &&
           s_filter_ok (sub, "type", self->type);
}

//  Prints what follow hands out until count events (0 = no limit), a
//  timeout, the END (replay only) or a signal. Returns the exit status.
static int
s_follow (const char *sub, ih_follow_t *follow, uint64_t count, int timeout,
          bool live)
{
    uint64_t printed = 0, bad = 0;
    int rc = IH_CLI_OK;
    while (count == 0 || printed < count) {
        ih_follow_event_t event;
        ih_err_t err = ih_follow_next (follow, timeout, &event);
        if (err == IH_E_MISSING || err == IH_E_INTERNAL)
            break; //  END of a replay, or SIGINT/SIGTERM
        if (err == IH_E_TIMEOUT) {
            if (count > 0 || !live)
                rc = ih_cli_fail (sub, IH_E_TIMEOUT, IH_CLI_FAIL,
                                  "got %" PRIu64 " event(s), then none for "
                                  "%d ms",
                                  printed, timeout);
            break;
        }
        if (err != IH_OK) {
            rc = ih_cli_fail (sub, err, IH_CLI_FAIL,
                              "the replay service refused: %s",
                              ih_strerror (err));
            break;
        }
        err = ih_cli_print_event (event.event, event.event_size, event.hub_seq,
                                  event.received);
        if (err == IH_OK)
            printed++;
        else if (++bad <= 10)
            ih_cli_fail (sub, err, IH_CLI_FAIL,
                         "hub_seq=%" PRIu64 " does not decode; skipped",
                         event.hub_seq);
    }
    if (rc == IH_CLI_OK && bad > 0)
        rc = IH_CLI_FAIL;
    return rc;
}

//  Follows the hub as options say (its replay service, and its feed if
//  options->pub is set), over CURVE if transport says so, printing as
//  s_follow does. The endpoints must have passed ih_cli_transport_check.
//  Returns the exit status.
static int
s_follow_hub (const char *sub, ih_follow_options_t *options,
              ih_cli_transport_t *transport, uint64_t count, int timeout)
{
    ih_follow_t *follow = ih_cli_follow_new (transport, options);
    int rc = follow ? s_follow (sub, follow, count, timeout, options->pub)
                    : IH_CLI_USAGE;
    ih_follow_destroy (&follow);
    return rc;
}

int
ih_cmd_tail (int argc, char *argv[])
{
    const char *sub = "tail";
    const char *hub = NULL, *replay = NULL;
    s_filters_t filters = {NULL, NULL, NULL};
    uint64_t count = 0, from = 0;
    int timeout = -1; //  zpoller: wait for ever
    static const struct option options[] = {
        {"hub", required_argument, NULL, 'H'},
        {"replay", required_argument, NULL, 'R'},
        {"from", required_argument, NULL, 'f'},
        {"district", required_argument, NULL, 'D'},
        {"site", required_argument, NULL, 's'},
        {"type", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 'T'},
        IH_CLI_TRANSPORT_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    ih_cli_transport_t transport;
    ih_cli_transport_init (&transport);
    ih_cli_getopt_init ();
    int opt;
    while ((opt = getopt_long (argc, argv, ":H:R:f:D:s:t:n:T:h", options,
                               NULL)) != -1) {
        if (ih_cli_transport_option (&transport, opt, optarg) ||
            s_filter_option (&filters, opt, optarg))
            continue;
        switch (opt) {
        case 'H':
            hub = optarg;
            break;
        case 'R':
            replay = optarg;
            break;
        case 'f':
            if (!ih_cli_parse_positive (sub, "from", "a number", optarg, &from))
                return IH_CLI_USAGE;
            break;
        case 'n':
            if (!ih_cli_parse_positive (sub, "count", "a number", optarg,
                                        &count))
                return IH_CLI_USAGE;
            break;
        case 'T':
            if (!ih_cli_parse_timeout (sub, optarg, &timeout))
                return IH_CLI_USAGE;
            break;
        case 'h':
            fputs (s_tail_usage, stdout);
            return IH_CLI_OK;
        default:
            return ih_cli_bad_option (sub, argv, opt);
        }
    }
    if (!ih_cli_no_arguments (sub, argc, argv))
        return IH_CLI_USAGE;
    if (!hub)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--hub is required; see --help");
    if (!s_filters_ok (sub, &filters))
        return IH_CLI_USAGE;
    if (from && !replay)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--from needs --replay; see --help");
    int rc = ih_cli_transport_check (sub, &transport, hub);
    if (rc == IH_CLI_OK && replay)
        rc = ih_cli_transport_check (sub, &transport, replay);
    if (rc != IH_CLI_OK) {
        ih_cli_transport_end (&transport);
        return rc;
    }
    if (replay) {
        ih_follow_options_t follow_options = {.pub = hub,
                                              .replay = replay,
                                              .from = from ? from : 1,
                                              .district = filters.district,
                                              .site = filters.site,
                                              .type = filters.type};
        rc = s_follow_hub (sub, &follow_options, &transport, count, timeout);
        ih_cli_transport_end (&transport);
        return rc;
    }

    zsock_t *sock = ih_cli_connect (sub, ZMQ_SUB, hub, &transport, &rc);
    ih_cli_transport_end (&transport); //  applied: the socket keeps a copy
    if (!sock)
        return rc;
    char topic[3 * IH_NAME_MAX + 4];
    ih_wire_topic_prefix (filters.district, filters.site, filters.type, topic);
    zsock_set_subscribe (sock, topic);

    rc = IH_CLI_OK;
    uint64_t printed = 0;
    uint64_t bad = 0; //  undecodable messages, reported and skipped
    while (count == 0 || printed < count) {
        zmsg_t *msg = NULL;
        ih_err_t err = ih_cli_recv (sock, timeout, &msg);
        if (err == IH_E_TIMEOUT) {
            if (count > 0) {
                rc = ih_cli_fail (sub, IH_E_TIMEOUT, IH_CLI_FAIL,
                                  "got %" PRIu64 " of %" PRIu64
                                  " event(s), then none for %d ms",
                                  printed, count, timeout);
            }
            break;
        }
        if (err != IH_OK)
            break; //  SIGINT or SIGTERM: a normal way to stop
        ih_wire_t wire;
        err = ih_wire_decode_pub (msg, &wire);
        if (err == IH_OK && ih_wire_topic_match (wire.topic, filters.district,
                                                 filters.site, filters.type)) {
            err = ih_cli_print_event (wire.event, wire.event_size, wire.hub_seq,
                                      wire.received);
            if (err == IH_OK)
                printed++;
        }
        if (err != IH_OK && ++bad <= 10)
            ih_cli_fail (sub, err, IH_CLI_FAIL,
                         "skipped a message that does not decode%s",
                         bad == 10 ? " (not reporting more)" : "");
        zmsg_destroy (&msg);
    }
    zsock_destroy (&sock);
    return rc;
}

//  --------------------------------------------------------------------------
//  replay

static const char *s_replay_usage =
    "Usage: incuhub replay --data DIR [--from SEQ] [--count N]\n"
    "       incuhub replay --hub ENDPOINT [--from SEQ | --from-time MS]\n"
    "                      [--district D] [--site S] [--type T] [--count N]\n"
    "                      [--hub-key FILE --key FILE | --plaintext]\n"
    "\n"
    "Prints the events stored in the hub's log (data directory DIR), in hub\n"
    "order, one compact JSON line each on stdout:\n" S_JSON_LINE
    "Opens the log read-only: safe while the hub runs. Does not verify\n"
    "signatures; see audit. A record that does not decode is reported on\n"
    "stderr and skipped, and the exit status is then 1.\n"
    "\n"
    "Options:\n"
    "  -d, --data DIR     the hub's data directory\n"
    "  -H, --hub EP       instead, read remotely from the hub's replay\n"
    "                     endpoint (credit-based flow control), up to\n"
    "                     the end of the log when it gets there\n"
    "  -F, --from-time MS (--hub) start at the first event the hub\n"
    "                     received at or after MS ms since the epoch\n"
    "  -D, --district D   (--hub) only events from sites of district D\n"
    "  -s, --site S       (--hub) only events from site S\n"
    "  -t, --type T       (--hub) only events of type T\n"
    "  -T, --timeout MS   (--hub) give up after MS ms without an answer\n"
    "                     (default 10000)\n"
    "  -f, --from SEQ     start at hub sequence SEQ (default 1)\n"
    "  -n, --count N      print at most N events (default: all)\n"
    "  -h, --help         this text\n"
    "\nWith --hub:\n" IH_CLI_TRANSPORT_HELP
    "\nOver CURVE the replay service serves only what the registry lets\n"
    "your key read, else it refuses (IH_E_DENIED, exit 1).\n";

typedef struct {
    uint64_t bad; //  records that did not decode
} s_replay_t;

static int
s_replay_one (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
              size_t size, void *arg)
{
    s_replay_t *self = (s_replay_t *) arg;
    //  received 0 marks a record ih_log could not split (see ih_log_read).
    ih_err_t err = received == 0
                       ? IH_E_MALFORMED
                       : ih_cli_print_event (bytes, size, hub_seq, received);
    if (err != IH_OK) {
        self->bad++;
        ih_cli_fail ("replay", err, IH_CLI_FAIL,
                     "hub_seq=%" PRIu64 ": stored record does not decode; "
                     "skipped",
                     hub_seq);
    }
    return 0;
}

int
ih_cmd_replay (int argc, char *argv[])
{
    const char *sub = "replay";
    const char *dir = NULL, *hub = NULL;
    s_filters_t filters = {NULL, NULL, NULL};
    uint64_t from = 1, count = 0, from_time = 0;
    bool from_given = false;
    int timeout = IH_CLI_TIMEOUT_DEFAULT;
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'},
        {"hub", required_argument, NULL, 'H'},
        {"from-time", required_argument, NULL, 'F'},
        {"district", required_argument, NULL, 'D'},
        {"site", required_argument, NULL, 's'},
        {"type", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, 'T'},
        {"from", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},
        IH_CLI_TRANSPORT_OPTIONS,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    ih_cli_transport_t transport;
    ih_cli_transport_init (&transport);
    ih_cli_getopt_init ();
    int opt;
    while ((opt = getopt_long (argc, argv, ":d:H:F:D:s:t:T:f:n:h", options,
                               NULL)) != -1) {
        if (ih_cli_transport_option (&transport, opt, optarg) ||
            s_filter_option (&filters, opt, optarg))
            continue;
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'H':
            hub = optarg;
            break;
        case 'F':
            if (!ih_cli_parse_positive (sub, "from-time", "ms", optarg,
                                        &from_time))
                return IH_CLI_USAGE;
            break;
        case 'T':
            if (!ih_cli_parse_timeout (sub, optarg, &timeout))
                return IH_CLI_USAGE;
            break;
        case 'f':
            if (!ih_cli_parse_positive (sub, "from", "a number", optarg, &from))
                return IH_CLI_USAGE;
            from_given = true;
            break;
        case 'n':
            if (!ih_cli_parse_positive (sub, "count", "a number", optarg,
                                        &count))
                return IH_CLI_USAGE;
            break;
        case 'h':
            fputs (s_replay_usage, stdout);
            return IH_CLI_OK;
        default:
            return ih_cli_bad_option (sub, argv, opt);
        }
    }
    if (!ih_cli_no_arguments (sub, argc, argv))
        return IH_CLI_USAGE;
    if ((dir != NULL) == (hub != NULL))
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "one of --data or --hub is required; see --help");
    if (from_given && from_time)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--from and --from-time exclude each other");
    if (dir && (from_time || filters.district || filters.site || filters.type))
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--from-time and filters need --hub");
    if (dir && ih_cli_transport_given (&transport))
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--hub-key, --key and --plaintext need --hub");
    if (!s_filters_ok (sub, &filters))
        return IH_CLI_USAGE;
    if (hub) {
        int rc = ih_cli_transport_check (sub, &transport, hub);
        if (rc == IH_CLI_OK) {
            ih_follow_options_t follow_options = {.replay = hub,
                                                  .from = from,
                                                  .from_time = from_time,
                                                  .district = filters.district,
                                                  .site = filters.site,
                                                  .type = filters.type};
            rc =
                s_follow_hub (sub, &follow_options, &transport, count, timeout);
        }
        ih_cli_transport_end (&transport);
        return rc;
    }
    ih_log_t *log = ih_cli_log_open (sub, dir);
    if (!log)
        return IH_CLI_FAIL;
    s_replay_t self = {0};
    ih_err_t err = ih_log_read (log, from, count, s_replay_one, &self);
    ih_log_destroy (&log);
    if (err != IH_OK)
        return ih_cli_fail (sub, err, IH_CLI_FAIL, "cannot read the log: %s",
                            ih_strerror (err));
    if (self.bad > 0)
        return ih_cli_fail (sub, IH_E_MALFORMED, IH_CLI_FAIL,
                            "%" PRIu64 " stored record(s) did not decode",
                            self.bad);
    return IH_CLI_OK;
}
