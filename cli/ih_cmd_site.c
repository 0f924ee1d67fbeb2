/*  =========================================================================
    ih_cmd_site - `incuhub site add|rotate|revoke|permit|push`: the bureau
    changes the site registry

    The registry lives in the hub's log (issue 4, docs/security.md): it is
    the pinned bureau key plus the bureau's registry.* events, applied in
    log order. This command is where those events are made. Each
    subcommand but push builds one registry change (proto/ih_regchange.h),
    signs it with the bureau's secret key as the bureau site's next event
    and appends it to the bureau's journal file (hub/ih_journal.h), which
    holds the bureau's chain (the next seq and prev hash come from its last
    line). The journal is only a transport: the hub admits its events
    through the same checks as any other (ih_registry_admit), so a change
    signed by another key is refused there.

    Getting the events into the log: a hub started with --registry JOURNAL
    reads the file itself; with --hub (here, or `site push`) the command
    sends every event of the journal to the hub's ingest endpoint (a
    DEALER, EVENT frames exactly as an agent sends them) and waits for
    each one's ACK before the next (the hub ACKs an event it already has
    again), so when it returns 0 the hub has stored the whole journal. The
    connection follows the transport rule of ih_cli.h; over CURVE the
    client key is the bureau's own (--key), which the hub knows as the
    pinned bureau's.

    Output: one line per change on stdout,
        incuhub site: <event type> seq=N site=ID     (or kind=K for permit)
    and after a push
        incuhub site: pushed events=N hub=ENDPOINT
    =========================================================================*/
#include <getopt.h>
#include <jansson.h>
#include "ih_cli.h"
#include "ih_event.h"
#include "ih_journal.h"
#include "ih_key.h"
#include "ih_regchange.h"
#include "ih_wire.h"

static const char *s_usage =
    "Usage: incuhub site add --site ID --kind KIND --district NAME\n"
    "                        --site-key ID.pub COMMON\n"
    "       incuhub site rotate --site ID --site-key NEW.pub --from-seq N\n"
    "                        COMMON\n"
    "       incuhub site revoke --site ID [--reason TEXT] COMMON\n"
    "       incuhub site permit --kind KIND --publish PATTERNS --read SCOPE\n"
    "                        COMMON\n"
    "       incuhub site push COMMON   (--hub required)\n"
    "COMMON: --key BUREAU.key --registry JOURNAL [--hub ENDPOINT\n"
    "        [--hub-key HUB.pub | --plaintext] [--timeout MS]]\n"
    "\n"
    "Changes the site registry, which lives in the hub's log as events\n"
    "signed by the bureau. Each change is signed with the bureau's secret\n"
    "key (--key; its name is the bureau's site id, pinned in the hub's\n"
    "config as bureau_key) as the bureau's next event and appended to the\n"
    "journal file JOURNAL (created if missing). A hub started with\n"
    "--registry JOURNAL picks it up by itself; with --hub the command also\n"
    "sends every event of the journal to the hub's ingest endpoint and\n"
    "waits for each one to be stored (ACKed).\n"
    "\n"
    "  add     registers a new site: its kind, district and keys (the\n"
    "          signing and the transport public key of its ID.pub, made by\n"
    "          `incuhub keygen ID`); valid for its events from seq 1\n"
    "  rotate  gives the site a new key pair (NEW.pub, made by `incuhub\n"
    "          keygen ID --dir NEWDIR`): its events with seq >= N are signed\n"
    "          with the new key, earlier ones still verify with the old.\n"
    "          N must be above every seq of the site the hub has stored:\n"
    "          the agent's ready line prints next_seq=N\n"
    "  revoke  revokes every key of the site from this point of the log on:\n"
    "          nothing more of it is accepted until a rotate; what was\n"
    "          stored before still verifies\n"
    "  permit  replaces what sites of KIND may publish and read\n"
    "  push    sends the journal to the hub (nothing new is signed)\n"
    "\n"
    "Options:\n"
    "  -s, --site ID          the site (add, rotate: default the name in\n"
    "                         --site-key, which must match)\n"
    "  -k, --kind KIND        bureau, district, incubator, offshore, remote\n"
    "                         or auditor\n"
    "  -D, --district NAME    district of the site, e.g. laoshan\n"
    "  -S, --site-key FILE    the site's public key file (ID.pub)\n"
    "  -f, --from-seq N       first seq signed with the new key (>= 2)\n"
    "  -R, --reason TEXT      why the keys are revoked (at most 199 bytes)\n"
    "  -p, --publish LIST     comma-separated event types the kind may\n"
    "                         publish: a type (training.held), a prefix\n"
    "                         (enterprise.*) or * (any); '' for none\n"
    "  -r, --read SCOPE       what the kind may read: all (the city-wide\n"
    "                         feed, replay, proofs), district, own or none\n"
    "  -K, --key FILE         the bureau's secret key (NAME.key)\n"
    "  -j, --registry FILE    the bureau's registry journal\n"
    "  -H, --hub ENDPOINT     the hub's ingest endpoint: push the journal\n"
    "  --hub-key FILE         the hub's public key: CURVE to the hub, as\n"
    "                         the bureau (--key)\n"
    "  --plaintext            no CURVE (development only): local endpoints\n"
    "                         only (ipc://, loopback tcp://)\n"
    "  -T, --timeout MS       wait at most MS for each ACK (default 10000)\n"
    "  -h, --help             this text\n"
    "\n"
    "Prints one line per change on stdout:\n"
    "  incuhub site: registry.site_added seq=N site=ID\n"
    "  incuhub site: registry.key_rotated seq=N site=ID\n"
    "  incuhub site: registry.key_revoked seq=N site=ID\n"
    "  incuhub site: registry.permissions_changed seq=N kind=KIND\n"
    "(N: the event's seq in the bureau's chain) and after a push:\n"
    "  incuhub site: pushed events=N hub=ENDPOINT\n"
    "Exit status: 0 done; 1 a key, the journal or the hub failed (a hub's\n"
    "refusal is printed with its code and reason; a change already in the\n"
    "journal stays there: `incuhub site push` sends it again); 2 a usage\n"
    "error (a missing option, a bad kind, scope, pattern or name).\n";

//  Options of every subcommand; each subcommand checks which apply.
typedef struct {
    const char *site;
    const char *kind;
    const char *district;
    const char *site_key;
    uint64_t from_seq;
    const char *reason;
    const char *publish;
    const char *read;
    const char *registry;
    const char *hub;
    int timeout;
    ih_cli_transport_t transport; //  its key_path is --key, the bureau's
} s_opts_t;

//  One subcommand: its name, the options it takes (letters as in the
//  getopt string; the common ones K j H T are always taken) and the
//  registry change it signs, if any (push signs none).
typedef struct {
    const char *name;
    const char *takes;
    bool signs;
    ih_regop_t op; //  if signs
} s_sub_t;

static const s_sub_t s_subs[] = {
    {"add", "skDS", true, IH_REG_OP_SITE_ADDED},
    {"rotate", "sSf", true, IH_REG_OP_KEY_ROTATED},
    {"revoke", "sR", true, IH_REG_OP_KEY_REVOKED},
    {"permit", "kpr", true, IH_REG_OP_PERMISSIONS},
    {"push", "", false, IH_REG_OP_SITE_ADDED},
};
#define S_SUBS (sizeof (s_subs) / sizeof (s_subs[0]))

//  --------------------------------------------------------------------------
//  Building the change

//  Loads a site's public key file for add and rotate: it must carry both
//  public keys, and its name must be the site's.
static int
s_site_key (const char *sub, s_opts_t *opts, ih_regchange_t *change)
{
    ih_key_t *key = NULL;
    ih_err_t err = ih_key_load (opts->site_key, &key);
    if (err != IH_OK)
        return ih_cli_fail (sub, err, IH_CLI_FAIL,
                            "cannot load site key %s: %s", opts->site_key,
                            ih_strerror (err));
    int rc = IH_CLI_OK;
    const char *name = ih_key_name (key);
    if (opts->site && !streq (opts->site, name))
        rc = ih_cli_fail (sub, IH_E_WRONGSITE, IH_CLI_FAIL,
                          "key %s belongs to site '%s', not '%s'",
                          opts->site_key, name, opts->site);
    else if (!ih_event_name_valid (name))
        rc = ih_cli_fail (sub, IH_E_BADNAME, IH_CLI_FAIL,
                          "key %s names an invalid site id", opts->site_key);
    else if (!ih_key_has_curve (key))
        rc = ih_cli_fail (sub, IH_E_KEY, IH_CLI_FAIL,
                          "key %s has no transport (curve) public key; make "
                          "the site's keys with incuhub keygen",
                          opts->site_key);
    else {
        //  Lengths: a valid name is at most IH_NAME_MAX bytes
        snprintf (change->site, sizeof change->site, "%s", name);
        memcpy (change->sign_key, ih_key_public (key), IH_KEY_PUBLIC_SIZE);
        memcpy (change->curve_key, ih_key_curve_public (key),
                IH_KEY_CURVE_SIZE);
    }
    ih_key_destroy (&key);
    return rc;
}

//  Splits the --publish list into change's patterns.
static int
s_patterns (const char *sub, const char *list, ih_regchange_t *change)
{
    char *copy = strdup (list);
    assert (copy);
    int rc = IH_CLI_OK;
    change->publish_count = 0;
    char *rest = copy;
    char *item;
    while (rc == IH_CLI_OK && (item = strsep (&rest, ",")) != NULL) {
        while (*item == ' ' || *item == '\t')
            item++;
        size_t length = strlen (item);
        while (length > 0 &&
               (item[length - 1] == ' ' || item[length - 1] == '\t'))
            item[--length] = 0;
        if (length == 0) {
            if (rest || change->publish_count > 0)
                rc = ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                  "--publish '%s' has an empty pattern", list);
            continue; //  '' alone: publish nothing
        }
        if (length > IH_NAME_MAX || !ih_regchange_pattern_valid (item))
            rc = ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                              "--publish: '%s' is not a pattern (an event "
                              "type, a prefix ending in .*, or *)",
                              item);
        else if (change->publish_count == IH_REG_PATTERNS_MAX)
            rc = ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                              "--publish has more than %d patterns",
                              IH_REG_PATTERNS_MAX);
        else
            snprintf (change->publish[change->publish_count++],
                      sizeof change->publish[0], "%s", item);
    }
    free (copy);
    return rc;
}

//  Checks the options of subcommand op and fills change. Returns IH_CLI_OK
//  or the exit status after reporting.
static int
s_build (const char *sub, ih_regop_t op, s_opts_t *opts, ih_regchange_t *change)
{
    memset (change, 0, sizeof *change);
    change->op = op;
    if (opts->site && !ih_event_name_valid (opts->site))
        return ih_cli_fail (sub, IH_E_BADNAME, IH_CLI_USAGE,
                            "--site '%s' is not a valid site id "
                            "([a-z0-9._-], 1 to %d bytes)",
                            opts->site, IH_NAME_MAX);
    if (opts->kind && !ih_regchange_kind_valid (opts->kind))
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--kind '%s' is not a kind (bureau, district, "
                            "incubator, offshore, remote or auditor)",
                            opts->kind);
    if (opts->kind)
        snprintf (change->kind, sizeof change->kind, "%s", opts->kind);
    switch (op) {
    case IH_REG_OP_SITE_ADDED:
        if (!opts->kind || !opts->district || !opts->site_key)
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "--kind, --district and --site-key are "
                                "required; see --help");
        if (!ih_event_name_valid (opts->district))
            return ih_cli_fail (sub, IH_E_BADNAME, IH_CLI_USAGE,
                                "--district '%s' is not a valid name "
                                "([a-z0-9._-], 1 to %d bytes)",
                                opts->district, IH_NAME_MAX);
        snprintf (change->district, sizeof change->district, "%s",
                  opts->district);
        return s_site_key (sub, opts, change);
    case IH_REG_OP_KEY_ROTATED:
        if (!opts->site_key || !opts->from_seq)
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "--site-key and --from-seq are required; "
                                "see --help");
        if (opts->from_seq < 2)
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "--from-seq must be 2 or more (seq 1 is "
                                "signed with the key the site was added "
                                "with)");
        change->from_seq = opts->from_seq;
        return s_site_key (sub, opts, change);
    case IH_REG_OP_KEY_REVOKED:
        if (!opts->site)
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "--site is required; see --help");
        snprintf (change->site, sizeof change->site, "%s", opts->site);
        if (opts->reason) {
            json_t *text = json_string (opts->reason); //  NULL: not UTF-8
            bool valid = text != NULL;
            json_decref (text);
            for (const char *c = opts->reason; valid && *c; c++)
                if ((unsigned char) *c < 0x20 || *c == 0x7f)
                    valid = false;
            if (!valid || strlen (opts->reason) >= IH_REG_REASON_MAX)
                return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                    "--reason must be one line of UTF-8 "
                                    "text of at most %d bytes",
                                    IH_REG_REASON_MAX - 1);
            snprintf (change->reason, sizeof change->reason, "%s",
                      opts->reason);
        }
        return IH_CLI_OK;
    case IH_REG_OP_PERMISSIONS:
        if (!opts->kind || !opts->publish || !opts->read)
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "--kind, --publish and --read are "
                                "required; see --help");
        if (!ih_regchange_scope_parse (opts->read, &change->read))
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "--read '%s' is not a scope (all, district, "
                                "own or none)",
                                opts->read);
        return s_patterns (sub, opts->publish, change);
    }
    return IH_CLI_USAGE; //  not reached: every op is handled above
}

//  --------------------------------------------------------------------------
//  Pushing the journal

typedef struct {
    const char *sub;
    zsock_t *dealer;
    const char *hub;
    ih_cli_transport_t *transport;
    int timeout;
    uint64_t pushed;
    int rc; //  exit status of the first failure
} s_push_t;

//  Waits for the hub's answer to the event (site, seq). Returns IH_CLI_OK
//  on its ACK (or a DUPLICATE NAK), else reports and returns IH_CLI_FAIL.
static int
s_await (s_push_t *self, const ih_event_t *event, size_t line)
{
    int64_t deadline = zclock_mono () + self->timeout;
    while (true) {
        int64_t left = deadline - zclock_mono ();
        zmsg_t *reply = NULL;
        ih_wire_t wire;
        ih_err_t err = left > 0 ? ih_cli_recv_wire (self->dealer, (int) left,
                                                    &reply, &wire)
                                : IH_E_TIMEOUT;
        if (err == IH_E_TIMEOUT)
            return ih_cli_fail (self->sub, err, IH_CLI_FAIL,
                                "no answer from hub %s within %d ms for "
                                "journal line %zu (%s seq=%" PRIu64 ")%s",
                                self->hub, self->timeout, line, event->site,
                                event->seq,
                                ih_cli_transport_hint (self->transport));
        if (err == IH_E_INTERNAL)
            return ih_cli_fail (self->sub, err, IH_CLI_FAIL, "interrupted");
        int rc = -1; //  -1: not the answer to this event, go on waiting
        if (err == IH_OK && wire.kind == IH_WIRE_ACK &&
            streq (wire.site, event->site) && wire.seq == event->seq)
            rc = IH_CLI_OK;
        else if (err == IH_OK && wire.kind == IH_WIRE_NAK &&
                 (wire.seq == event->seq || wire.seq == 0)) {
            if (wire.code == IH_E_DUPLICATE)
                rc = IH_CLI_OK;
            else
                rc = ih_cli_fail (self->sub, wire.code, IH_CLI_FAIL,
                                  "hub refused journal line %zu (%s "
                                  "seq=%" PRIu64 " %s): %s",
                                  line, event->site, event->seq, event->type,
                                  wire.reason);
        }
        zmsg_destroy (&reply);
        if (rc >= 0)
            return rc;
    }
}

//  ih_journal_read callback: sends one event and waits for its ACK.
static int
s_push_one (const uint8_t *bytes, size_t size, size_t line, void *arg)
{
    s_push_t *self = (s_push_t *) arg;
    ih_event_t event;
    ih_err_t err = ih_event_decode (bytes, size, &event);
    if (err != IH_OK) {
        self->rc = ih_cli_fail (self->sub, err, IH_CLI_FAIL,
                                "journal line %zu is not an event: %s", line,
                                ih_strerror (err));
        return -1;
    }
    zmsg_t *msg = ih_wire_event (bytes, size);
    if (zmsg_send (&msg, self->dealer) != 0) {
        zmsg_destroy (&msg);
        self->rc = ih_cli_fail (self->sub, IH_E_INTERNAL, IH_CLI_FAIL,
                                "cannot send to hub %s", self->hub);
        return -1;
    }
    self->rc = s_await (self, &event, line);
    if (self->rc != IH_CLI_OK)
        return -1;
    self->pushed++;
    return 0;
}

//  Sends every event of the journal to opts->hub, one at a time.
static int
s_push (const char *sub, s_opts_t *opts)
{
    int rc = IH_CLI_FAIL;
    zsock_t *dealer =
        ih_cli_connect (sub, ZMQ_DEALER, opts->hub, &opts->transport, &rc);
    if (!dealer)
        return rc;
    s_push_t self = {sub,           dealer, opts->hub, &opts->transport,
                     opts->timeout, 0,      IH_CLI_OK};
    ih_err_t err = ih_journal_read (opts->registry, s_push_one, &self);
    zsock_destroy (&dealer);
    if (self.rc != IH_CLI_OK)
        return self.rc;
    if (err != IH_OK)
        return ih_cli_fail (sub, err, IH_CLI_FAIL,
                            "cannot read journal %s: %s (pushed %" PRIu64
                            " event(s) before)",
                            opts->registry, ih_strerror (err), self.pushed);
    printf ("incuhub site: pushed events=%" PRIu64 " hub=%s\n", self.pushed,
            opts->hub);
    fflush (stdout);
    return IH_CLI_OK;
}

//  --------------------------------------------------------------------------
//  The command

//  Loads the bureau's secret key (--key) into *bureau_p, which the caller
//  destroys whatever this returns.
static int
s_load_bureau (const char *sub, const char *path, ih_key_t **bureau_p)
{
    ih_err_t err = ih_key_load (path, bureau_p);
    if (err != IH_OK)
        return ih_cli_fail (sub, err, IH_CLI_FAIL,
                            "cannot load the bureau's key %s: %s", path,
                            ih_strerror (err));
    if (!ih_key_has_secret (*bureau_p))
        return ih_cli_fail (sub, IH_E_KEY, IH_CLI_FAIL,
                            "%s has no secret part: --key wants the "
                            "bureau's NAME.key",
                            path);
    return IH_CLI_OK;
}

//  Signs change as the bureau's next event and appends it to the journal.
static int
s_append (const char *sub, s_opts_t *opts, ih_key_t *bureau,
          const ih_regchange_t *change)
{
    uint8_t *bytes = NULL;
    size_t size = 0;
    ih_err_t err =
        ih_journal_append (opts->registry, bureau, change, &bytes, &size);
    if (err != IH_OK)
        return ih_cli_fail (
            sub, err, IH_CLI_FAIL, "cannot append to journal %s: %s%s",
            opts->registry, ih_strerror (err),
            err == IH_E_WRONGSITE ? " (it holds another bureau's events)" : "");
    ih_event_t event;
    err = ih_event_decode (bytes, size, &event);
    if (err == IH_OK) {
        if (change->op == IH_REG_OP_PERMISSIONS)
            printf ("incuhub site: %s seq=%" PRIu64 " kind=%s\n", event.type,
                    event.seq, change->kind);
        else
            printf ("incuhub site: %s seq=%" PRIu64 " site=%s\n", event.type,
                    event.seq, change->site);
        fflush (stdout);
    }
    free (bytes);
    if (err != IH_OK)
        return ih_cli_fail (sub, err, IH_CLI_FAIL,
                            "the journal's new event does not decode: %s",
                            ih_strerror (err));
    return IH_CLI_OK;
}

//  Parses the options; the subcommand's name is argv[0].
static int
s_parse (const char *sub, const s_sub_t *which, int argc, char *argv[],
         s_opts_t *opts)
{
    static const struct option options[] = {
        {"site", required_argument, NULL, 's'},
        {"kind", required_argument, NULL, 'k'},
        {"district", required_argument, NULL, 'D'},
        {"site-key", required_argument, NULL, 'S'},
        {"from-seq", required_argument, NULL, 'f'},
        {"reason", required_argument, NULL, 'R'},
        {"publish", required_argument, NULL, 'p'},
        {"read", required_argument, NULL, 'r'},
        {"key", required_argument, NULL, 'K'},
        {"registry", required_argument, NULL, 'j'},
        {"hub", required_argument, NULL, 'H'},
        {"hub-key", required_argument, NULL, IH_CLI_OPT_HUB_KEY},
        {"plaintext", no_argument, NULL, IH_CLI_OPT_PLAINTEXT},
        {"timeout", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    ih_cli_getopt_init ();
    int opt;
    while ((opt = getopt_long (argc, argv, ":s:k:D:S:f:R:p:r:K:j:H:T:h",
                               options, NULL)) != -1) {
        if (opt != 'h' && opt != ':' && opt != '?' && opt < 256 &&
            !strchr ("KjHT", opt) && !strchr (which->takes, opt)) {
            const char *name = "?";
            for (size_t i = 0; options[i].name; i++)
                if (options[i].val == opt)
                    name = options[i].name;
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "option --%s does not apply to site %s; see "
                                "--help",
                                name, which->name);
        }
        switch (opt) {
        case 's':
            opts->site = optarg;
            break;
        case 'k':
            opts->kind = optarg;
            break;
        case 'D':
            opts->district = optarg;
            break;
        case 'S':
            opts->site_key = optarg;
            break;
        case 'f':
            if (!ih_cli_parse_positive (sub, "from-seq", "a number", optarg,
                                        &opts->from_seq))
                return IH_CLI_USAGE;
            break;
        case 'R':
            opts->reason = optarg;
            break;
        case 'p':
            opts->publish = optarg;
            break;
        case 'r':
            opts->read = optarg;
            break;
        case 'K':
            opts->transport.key_path = optarg;
            break;
        case 'j':
            opts->registry = optarg;
            break;
        case 'H':
            opts->hub = optarg;
            break;
        case IH_CLI_OPT_HUB_KEY:
        case IH_CLI_OPT_PLAINTEXT:
            ih_cli_transport_option (&opts->transport, opt, optarg);
            break;
        case 'T':
            if (!ih_cli_parse_timeout (sub, optarg, &opts->timeout))
                return IH_CLI_USAGE;
            break;
        case 'h':
            fputs (s_usage, stdout);
            return -1;
        default:
            return ih_cli_bad_option (sub, argv, opt);
        }
    }
    if (!ih_cli_no_arguments (sub, argc, argv))
        return IH_CLI_USAGE;
    if (!opts->transport.key_path || !opts->registry)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--key (the bureau's NAME.key) and --registry "
                            "(its journal) are required; see --help");
    if (!which->signs && !opts->hub)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--hub is required; see --help");
    if (!opts->hub &&
        (opts->transport.hub_key_path || opts->transport.plaintext))
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--hub-key and --plaintext need --hub; see --help");
    return IH_CLI_OK;
}

int
ih_cmd_site (int argc, char *argv[])
{
    if (argc >= 2 && (streq (argv[1], "--help") || streq (argv[1], "-h"))) {
        fputs (s_usage, stdout);
        return IH_CLI_OK;
    }
    const s_sub_t *which = NULL;
    for (size_t i = 0; argc >= 2 && i < S_SUBS; i++)
        if (streq (argv[1], s_subs[i].name))
            which = &s_subs[i];
    if (!which)
        return ih_cli_fail ("site", IH_E_COMMAND, IH_CLI_USAGE,
                            "wants a subcommand: add, rotate, revoke, permit "
                            "or push; see 'incuhub site --help'");
    char sub[16];
    snprintf (sub, sizeof sub, "site %s", which->name);
    s_opts_t opts;
    memset (&opts, 0, sizeof opts);
    opts.timeout = IH_CLI_TIMEOUT_DEFAULT;
    ih_cli_transport_init (&opts.transport);
    int rc = s_parse (sub, which, argc - 1, argv + 1, &opts);
    if (rc != IH_CLI_OK)
        return rc < 0 ? IH_CLI_OK : rc; //  -1: --help was printed

    ih_regchange_t change;
    ih_key_t *bureau = NULL;
    if (which->signs) {
        rc = s_build (sub, which->op, &opts, &change);
        if (rc == IH_CLI_OK)
            rc = s_load_bureau (sub, opts.transport.key_path, &bureau);
        //  Check the transport before the change is signed, so that a
        //  usage error leaves the journal as it was
        if (rc == IH_CLI_OK && opts.hub)
            rc = ih_cli_transport_check (sub, &opts.transport, opts.hub);
        if (rc == IH_CLI_OK)
            rc = s_append (sub, &opts, bureau, &change);
    }
    if (rc == IH_CLI_OK && opts.hub) {
        rc = s_push (sub, &opts);
        if (rc != IH_CLI_OK && which->signs)
            fprintf (stderr,
                     "incuhub %s: the change is in the journal %s; send it "
                     "again with 'incuhub site push'\n",
                     sub, opts.registry);
    }
    ih_key_destroy (&bureau);
    ih_cli_transport_end (&opts.transport);
    return rc;
}
