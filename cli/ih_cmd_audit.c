/*  =========================================================================
    ih_cmd_audit - `incuhub audit`: prove the log is whole, then summarise

    The auditor's end of the data flow. It reads the hub's log read-only,
    in hub order, and checks every record against what the hub promised:

      1. hub sequences run 1, 2, 3 ... with no hole (a hole is a removed
         record);
      2. the record and the signed event inside it decode;
      3. the event's site is in the registry;
      4. the Ed25519 signature verifies against that site's registered key
         (so nobody, the hub included, changed the event);
      5. per site, seq is the previous seq + 1, starting at 1, and prev is
         the hash of that site's previous signed event (so nothing was
         removed, inserted or reordered within a site's history).

    After the replay it compares the hub's own tables with what the replay
    recomputed (all in one pinned snapshot, so a hub that keeps writing
    cannot cause a false alarm):

      6. the sites table: every site with events has an entry whose last
         seq and chain head equal the replay's, and every entry has
         events (so events cut off the end of the log are noticed even
         though nothing after them is left to break a chain);
      7. the index: each (site, seq) has exactly one entry and it points
         at the hub sequence where the replay found that event.

    It stops at the first failure, names its hub sequence (or, for a
    table that disagrees, the site) and exits 3. See docs/architecture.md,
    "What the audit proves today", for what it cannot yet see: the
    received time and the interleaving of different sites' events are not
    covered by any signature.
    Otherwise it prints a summary: totals, each site's count, last seq and
    chain head (the hash of its last event; an auditor who noted the heads
    earlier can see that no event was cut off the end), events per district
    and per type, and the plan's indicators counted from the event types.
    The summary is also the closing view of the demo.
    =========================================================================*/
#include <getopt.h>
#include <stdarg.h>
#include <sys/stat.h>
#include "ih_cli.h"
#include "ih_event.h"
#include "ih_json.h"
#include "ih_key.h"
#include "ih_record.h"
#include "ih_log.h"
#include "ih_registry.h"

//  The 2019-2022 action plan's city-wide targets, and the event types that
//  count towards them. An indicator counts events of its types, or sums the
//  integer payload field when field is set (a missing or non-integer field
//  counts 0). Keep in step with the --help text.
static const struct {
    const char *name;
    const char *types[3]; //  NULL-terminated
    const char *field;    //  sum data.<field> instead of counting, or NULL
    uint64_t target;      //  city-wide target for 2022
} s_indicators[] = {
    {"benchmark_incubators", {"incubator.benchmark_named"}, NULL, 10},
    {"offshore_remote_bases",
     {"offshore.base_recognised", "remote.base_recognised"},
     NULL,
     3},
    {"high_tech_enterprises", {"enterprise.high_tech_certified"}, NULL, 500},
    {"tech_smes", {"enterprise.tech_sme_registered"}, NULL, 2000},
    {"financing_rounds", {"financing.round_closed"}, NULL, 500},
    {"people_trained", {"training.held"}, "participants", 1000},
    {"qianfan_events", {"qianfan.event_held"}, NULL, 500},
    {"mentors", {"mentor.joined"}, NULL, 300},
};
#define S_INDICATORS (sizeof (s_indicators) / sizeof (s_indicators[0]))

static const char *s_audit_usage =
    "Usage: incuhub audit --data DIR --registry FILE [--json]\n"
    "\n"
    "Verifies the hub's whole log (data directory DIR, opened read-only):\n"
    "hub sequences contiguous from 1 (a hole is a removed record); every\n"
    "record and event decodes; every site is in the registry FILE; every\n"
    "signature verifies against the site's registered key; per site, seq\n"
    "runs 1, 2, 3 ... and prev is the hash of the site's previous event.\n"
    "Then the hub's own tables must agree with the replay: each site's\n"
    "entry in the sites table (last seq, chain head) equals the replayed\n"
    "chain, every entry there has events (so events cut off the end are\n"
    "seen), and every index entry (site, seq) points to the hub sequence\n"
    "holding that event. All of it reads one snapshot of the log.\n"
    "\n"
    "What this proves: every event is exactly what its site signed, and\n"
    "no site's history had events removed, inserted, reordered or cut\n"
    "off its end while the sites table was left alone. What it cannot\n"
    "see yet: the hub_seq order between events of different sites (the\n"
    "hub may swap them), the 'received' time the hub stored, and a tail\n"
    "cut together with a matching rewrite of the hub's tables (only an\n"
    "auditor who noted the heads earlier sees that). Those need a\n"
    "hub-level chain or signed checkpoints (planned: Merkle tree + signed\n"
    "checkpoints, issue 3).\n"
    "\n"
    "On success prints a summary on stdout and exits 0:\n"
    "  events=N sites=N last_hub_seq=N\n"
    "  site=ID kind=K district=D count=N last_seq=N head=<64 hex>\n"
    "  district=D sites=N events=N\n"
    "  type=T count=N\n"
    "  indicator=NAME value=N target=N source=TYPE[+TYPE][:FIELD]\n"
    "  audit: OK\n"
    "(one line per site, district, type and indicator, sorted by name;\n"
    "head is the SHA-256 of the site's last signed event). With --json the\n"
    "same as one JSON object: {\"ok\":true,\"events\":N,\"sites\":N,\n"
    "\"last_hub_seq\":N,\"site\":{ID:{...}},\"district\":{D:{...}},\n"
    "\"type\":{T:N},\"indicator\":{NAME:{\"value\":N,\"target\":N,\n"
    "\"source\":S}}}.\n"
    "\n"
    "At the first fault prints on stderr, and exits 3:\n"
    "  audit: FAILED at hub_seq=N: <reason> (<IH_E_NAME>)\n"
    "or, when the sites table or index disagrees with no event to name:\n"
    "  audit: FAILED at site=ID: <reason> (<IH_E_NAME>)\n"
    "\n"
    "Indicators (the 2019-2022 plan's city-wide targets) count events:\n"
    "  benchmark_incubators   incubator.benchmark_named            10\n"
    "  offshore_remote_bases  offshore.base_recognised +\n"
    "                         remote.base_recognised                3\n"
    "  high_tech_enterprises  enterprise.high_tech_certified      500\n"
    "  tech_smes              enterprise.tech_sme_registered     2000\n"
    "  financing_rounds       financing.round_closed              500\n"
    "  people_trained         training.held, sum of\n"
    "                         data.participants                  1000\n"
    "  qianfan_events         qianfan.event_held                  500\n"
    "  mentors                mentor.joined                       300\n"
    "\n"
    "Options:\n"
    "  -d, --data DIR        the hub's data directory\n"
    "  -r, --registry FILE   the site registry\n"
    "  -j, --json            print the summary as one JSON object\n"
    "  -h, --help            this text\n";

//  One site's chain as seen so far.
typedef struct {
    const ih_site_t *site;      //  borrowed from the registry
    uint64_t count;             //  events seen
    uint64_t last_seq;          //  0 before the first event
    uint8_t head[IH_HASH_SIZE]; //  hash of the last event; zeros at first
    uint64_t *hub_seqs;         //  [seq - 1] = hub_seq of that event
    size_t hub_seqs_max;        //  allocated entries of hub_seqs
    bool in_sites;              //  the hub's sites table has this site
    uint64_t index_next;        //  next seq the index walk must see
} s_chain_t;

typedef struct {
    ih_registry_t *registry; //  who may sign, with which key
    zhashx_t *chains;        //  site id -> s_chain_t
    zhashx_t *types;         //  event type -> uint64_t count
    uint64_t indicators[S_INDICATORS];
    uint64_t events;       //  records verified
    uint64_t next_hub_seq; //  the hub sequence the next record must have
    bool failed;           //  a fault was found
    uint64_t failed_at;    //  the hub sequence of the fault, or 0
    char failed_site[IH_NAME_MAX + 1]; //  else the site of the fault
    ih_err_t err;                      //  the fault's code
    char reason[320];                  //  the fault, in words
} s_audit_t;

static void
s_free_item (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static void
s_free_chain (void **item_p)
{
    s_chain_t *chain = (s_chain_t *) *item_p;
    if (chain) {
        free (chain->hub_seqs);
        free (chain);
        *item_p = NULL;
    }
}

static int s_fail (s_audit_t *self, uint64_t hub_seq, ih_err_t err,
                   const char *format, ...) CHECK_PRINTF (4);

static int
s_fail (s_audit_t *self, uint64_t hub_seq, ih_err_t err, const char *format,
        ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->reason, sizeof self->reason, format, args);
    va_end (args);
    self->failed = true;
    self->failed_at = hub_seq;
    self->err = err;
    return -1; //  stops ih_log_read
}

//  The same for a fault that has no hub sequence: names the site.
static int s_fail_site (s_audit_t *self, const char *site, ih_err_t err,
                        const char *format, ...) CHECK_PRINTF (4);

static int
s_fail_site (s_audit_t *self, const char *site, ih_err_t err,
             const char *format, ...)
{
    va_list args;
    va_start (args, format);
    vsnprintf (self->reason, sizeof self->reason, format, args);
    va_end (args);
    self->failed = true;
    self->failed_at = 0;
    snprintf (self->failed_site, sizeof self->failed_site, "%s", site);
    self->err = err;
    return -1;
}

//  Adds one verified event to the indicators it counts towards.
static void
s_count_indicators (s_audit_t *self, const ih_event_t *event)
{
    for (size_t i = 0; i < S_INDICATORS; i++) {
        for (size_t t = 0; s_indicators[i].types[t]; t++) {
            if (!streq (event->type, s_indicators[i].types[t]))
                continue;
            if (!s_indicators[i].field) {
                self->indicators[i]++;
                continue;
            }
            json_t *data = NULL;
            if (ih_json_from_msgpack (event->data, event->data_size, &data) ==
                IH_OK) {
                json_t *value = json_object_get (data, s_indicators[i].field);
                if (json_is_integer (value) && json_integer_value (value) > 0)
                    self->indicators[i] +=
                        (uint64_t) json_integer_value (value);
            }
            json_decref (data);
        }
    }
}

//  ih_log_read_raw callback: checks one stored record; returns non-zero at
//  a fault.
static int
s_check (uint64_t hub_seq, uint64_t unused, const uint8_t *record,
         size_t record_size, void *arg)
{
    (void) unused; //  always 0 from ih_log_read_raw
    s_audit_t *self = (s_audit_t *) arg;
    if (hub_seq != self->next_hub_seq)
        return s_fail (self, self->next_hub_seq, IH_E_GAP,
                       "record missing (removed?): the log goes on at "
                       "hub_seq=%" PRIu64,
                       hub_seq);
    self->next_hub_seq++;

    //  Split the record here rather than trust a received of 0 to mean
    //  "does not decode": 0 is a legal, if odd, stored time.
    uint64_t received;
    const uint8_t *bytes;
    size_t size;
    ih_err_t err =
        ih_record_decode (record, record_size, &received, &bytes, &size);
    if (err != IH_OK)
        return s_fail (self, hub_seq, err, "stored record does not decode: %s",
                       ih_strerror (err));
    ih_event_t event;
    err = ih_event_decode (bytes, size, &event);
    if (err != IH_OK)
        return s_fail (self, hub_seq, err, "signed event does not decode: %s",
                       ih_strerror (err));
    const ih_site_t *site = ih_registry_lookup (self->registry, event.site);
    if (!site)
        return s_fail (self, hub_seq, IH_E_UNKNOWN_SITE,
                       "site '%s' is not in the registry", event.site);
    err = ih_event_verify (bytes, size, site->key);
    if (err != IH_OK)
        return s_fail (self, hub_seq, err,
                       "signature of site '%s' seq=%" PRIu64
                       " does not verify against its registered key",
                       event.site, event.seq);

    s_chain_t *chain = (s_chain_t *) zhashx_lookup (self->chains, event.site);
    if (!chain) {
        chain = (s_chain_t *) zmalloc (sizeof (s_chain_t));
        assert (chain);
        chain->site = site;
        chain->index_next = 1;
        zhashx_insert (self->chains, event.site, chain);
    }
    if (event.seq <= chain->last_seq)
        return s_fail (self, hub_seq, IH_E_CONFLICT,
                       "site '%s' seq=%" PRIu64 " comes after seq=%" PRIu64
                       " (duplicated or reordered)",
                       event.site, event.seq, chain->last_seq);
    if (event.seq != chain->last_seq + 1)
        return s_fail (self, hub_seq, IH_E_GAP,
                       "site '%s' seq=%" PRIu64 " follows seq=%" PRIu64
                       " (events missing)",
                       event.site, event.seq, chain->last_seq);
    if (memcmp (event.prev, chain->head, IH_HASH_SIZE) != 0)
        return s_fail (self, hub_seq, IH_E_CHAIN,
                       "site '%s' seq=%" PRIu64 ": prev is not the hash of "
                       "the site's previous event",
                       event.site, event.seq);
    //  seq == count + 1 here, so hub_seqs[seq - 1] is the next slot
    if (chain->count == chain->hub_seqs_max) {
        size_t max = chain->hub_seqs_max ? 2 * chain->hub_seqs_max : 64;
        uint64_t *grown =
            (uint64_t *) realloc (chain->hub_seqs, max * sizeof (uint64_t));
        assert (grown);
        chain->hub_seqs = grown;
        chain->hub_seqs_max = max;
    }
    chain->hub_seqs[chain->count] = hub_seq;
    chain->count++;
    chain->last_seq = event.seq;
    ih_event_hash (bytes, size, chain->head);

    uint64_t *count = (uint64_t *) zhashx_lookup (self->types, event.type);
    if (!count) {
        count = (uint64_t *) zmalloc (sizeof (uint64_t));
        assert (count);
        zhashx_insert (self->types, event.type, count);
    }
    (*count)++;
    s_count_indicators (self, &event);
    self->events++;
    return 0;
}

//  ih_log_sites callback: the hub's chain head for site must be the one
//  the replay computed.
static int
s_check_site (const char *site, uint64_t last_seq, const uint8_t *last_hash,
              void *arg)
{
    s_audit_t *self = (s_audit_t *) arg;
    if (!last_hash)
        return s_fail_site (self, site, IH_E_MALFORMED,
                            "the hub's sites table entry for '%s' is damaged",
                            site);
    s_chain_t *chain = (s_chain_t *) zhashx_lookup (self->chains, site);
    if (!chain)
        return s_fail_site (self, site, IH_E_GAP,
                            "the hub's sites table has site '%s' at "
                            "seq=%" PRIu64 " but the log has no event of it "
                            "(events removed?)",
                            site, last_seq);
    chain->in_sites = true;
    uint64_t last_hub_seq = chain->hub_seqs[chain->count - 1];
    if (last_seq != chain->last_seq)
        return s_fail_site (
            self, site, last_seq > chain->last_seq ? IH_E_GAP : IH_E_CONFLICT,
            "the hub's sites table has site '%s' at seq=%" PRIu64
            " but its events in the log end at seq=%" PRIu64
            " (hub_seq=%" PRIu64 ")%s",
            site, last_seq, chain->last_seq, last_hub_seq,
            last_seq > chain->last_seq ? " (events cut off the end?)" : "");
    if (memcmp (last_hash, chain->head, IH_HASH_SIZE) != 0)
        return s_fail_site (self, site, IH_E_CHAIN,
                            "the hub's sites table head for site '%s' "
                            "seq=%" PRIu64 " is not the hash of its last event "
                            "in the log (hub_seq=%" PRIu64 ")",
                            site, last_seq, last_hub_seq);
    return 0;
}

//  ih_log_index callback: entries come sorted by site then seq; each must
//  be the next seq of its site and point where the replay found it.
static int
s_check_index (const char *site, uint64_t seq, uint64_t hub_seq, void *arg)
{
    s_audit_t *self = (s_audit_t *) arg;
    if (seq == 0)
        return s_fail_site (self, site, IH_E_MALFORMED,
                            "an index entry of site '%s' is damaged", site);
    s_chain_t *chain = (s_chain_t *) zhashx_lookup (self->chains, site);
    if (!chain || seq > chain->count)
        return s_fail_site (self, site, IH_E_CONFLICT,
                            "the index has site '%s' seq=%" PRIu64
                            " -> hub_seq=%" PRIu64
                            " but the log has no such event",
                            site, seq, hub_seq);
    if (seq != chain->index_next)
        return s_fail (self, chain->hub_seqs[chain->index_next - 1],
                       IH_E_MISSING,
                       "the index has no entry for site '%s' seq=%" PRIu64,
                       site, chain->index_next);
    if (chain->hub_seqs[seq - 1] != hub_seq)
        return s_fail (self, chain->hub_seqs[seq - 1], IH_E_CONFLICT,
                       "the index points site '%s' seq=%" PRIu64
                       " to hub_seq=%" PRIu64,
                       site, seq, hub_seq);
    chain->index_next++;
    return 0;
}

//  The keys of hash, sorted; the caller destroys the list.
static zlistx_t *
s_sorted_keys (zhashx_t *hash)
{
    zlistx_t *keys = zhashx_keys (hash);
    assert (keys);
    zlistx_set_comparator (keys, (zlistx_comparator_fn *) strcmp);
    zlistx_sort (keys);
    return keys;
}

static void
s_source (size_t indicator, char *text, size_t size)
{
    size_t used = 0;
    text[0] = '\0';
    for (size_t t = 0; s_indicators[indicator].types[t]; t++)
        used += snprintf (text + used, size - used, "%s%s", t ? "+" : "",
                          s_indicators[indicator].types[t]);
    if (s_indicators[indicator].field)
        snprintf (text + used, size - used, ":%s",
                  s_indicators[indicator].field);
}

//  Builds the summary as JSON; the text form is printed from it too, so
//  the two cannot drift apart.
static json_t *
s_summary (s_audit_t *self)
{
    json_t *root = json_object ();
    json_object_set_new (root, "ok", json_true ());
    json_object_set_new (root, "events",
                         json_integer ((json_int_t) self->events));
    json_object_set_new (
        root, "sites", json_integer ((json_int_t) zhashx_size (self->chains)));
    json_object_set_new (root, "last_hub_seq",
                         json_integer ((json_int_t) (self->next_hub_seq - 1)));

    //  Sites, and the per-district totals they add up to.
    json_t *sites = json_object ();
    zhashx_t *districts = zhashx_new (); //  district -> uint64_t[2]
    assert (districts);
    zhashx_set_destructor (districts, s_free_item);
    zlistx_t *keys = s_sorted_keys (self->chains);
    for (const char *id = (const char *) zlistx_first (keys); id;
         id = (const char *) zlistx_next (keys)) {
        s_chain_t *chain = (s_chain_t *) zhashx_lookup (self->chains, id);
        char head[IH_KEY_HEX_SIZE];
        ih_key_to_hex (chain->head, head); //  any 32 bytes will do
        json_object_set_new (
            sites, id,
            json_pack ("{s:s, s:s, s:I, s:I, s:s}", "kind", chain->site->kind,
                       "district", chain->site->district, "count",
                       (json_int_t) chain->count, "last_seq",
                       (json_int_t) chain->last_seq, "head", head));
        uint64_t *totals =
            (uint64_t *) zhashx_lookup (districts, chain->site->district);
        if (!totals) {
            totals = (uint64_t *) zmalloc (2 * sizeof (uint64_t));
            assert (totals);
            zhashx_insert (districts, chain->site->district, totals);
        }
        totals[0]++;
        totals[1] += chain->count;
    }
    zlistx_destroy (&keys);
    json_object_set_new (root, "site", sites);

    json_t *by_district = json_object ();
    keys = s_sorted_keys (districts);
    for (const char *name = (const char *) zlistx_first (keys); name;
         name = (const char *) zlistx_next (keys)) {
        uint64_t *totals = (uint64_t *) zhashx_lookup (districts, name);
        json_object_set_new (by_district, name,
                             json_pack ("{s:I, s:I}", "sites",
                                        (json_int_t) totals[0], "events",
                                        (json_int_t) totals[1]));
    }
    zlistx_destroy (&keys);
    zhashx_destroy (&districts);
    json_object_set_new (root, "district", by_district);

    json_t *types = json_object ();
    keys = s_sorted_keys (self->types);
    for (const char *type = (const char *) zlistx_first (keys); type;
         type = (const char *) zlistx_next (keys))
        json_object_set_new (
            types, type,
            json_integer ((json_int_t) *
                          (uint64_t *) zhashx_lookup (self->types, type)));
    zlistx_destroy (&keys);
    json_object_set_new (root, "type", types);

    json_t *indicators = json_object ();
    for (size_t i = 0; i < S_INDICATORS; i++) {
        char source[160];
        s_source (i, source, sizeof source);
        json_object_set_new (
            indicators, s_indicators[i].name,
            json_pack ("{s:I, s:I, s:s}", "value",
                       (json_int_t) self->indicators[i], "target",
                       (json_int_t) s_indicators[i].target, "source", source));
    }
    json_object_set_new (root, "indicator", indicators);
    return root;
}

static void
s_print_text (json_t *summary)
{
    printf ("events=%" JSON_INTEGER_FORMAT " sites=%" JSON_INTEGER_FORMAT
            " last_hub_seq=%" JSON_INTEGER_FORMAT "\n",
            json_integer_value (json_object_get (summary, "events")),
            json_integer_value (json_object_get (summary, "sites")),
            json_integer_value (json_object_get (summary, "last_hub_seq")));
    const char *key;
    json_t *value;
    json_object_foreach (json_object_get (summary, "site"), key, value)
    {
        printf ("site=%s kind=%s district=%s count=%" JSON_INTEGER_FORMAT
                " last_seq=%" JSON_INTEGER_FORMAT " head=%s\n",
                key, json_string_value (json_object_get (value, "kind")),
                json_string_value (json_object_get (value, "district")),
                json_integer_value (json_object_get (value, "count")),
                json_integer_value (json_object_get (value, "last_seq")),
                json_string_value (json_object_get (value, "head")));
    }
    json_object_foreach (json_object_get (summary, "district"), key, value)
    {
        printf ("district=%s sites=%" JSON_INTEGER_FORMAT
                " events=%" JSON_INTEGER_FORMAT "\n",
                key, json_integer_value (json_object_get (value, "sites")),
                json_integer_value (json_object_get (value, "events")));
    }
    json_object_foreach (json_object_get (summary, "type"), key, value)
    {
        printf ("type=%s count=%" JSON_INTEGER_FORMAT "\n", key,
                json_integer_value (value));
    }
    json_object_foreach (json_object_get (summary, "indicator"), key, value)
    {
        printf ("indicator=%s value=%" JSON_INTEGER_FORMAT
                " target=%" JSON_INTEGER_FORMAT " source=%s\n",
                key, json_integer_value (json_object_get (value, "value")),
                json_integer_value (json_object_get (value, "target")),
                json_string_value (json_object_get (value, "source")));
    }
    printf ("audit: OK\n");
}

int
ih_cmd_audit (int argc, char *argv[])
{
    const char *sub = "audit";
    const char *dir = NULL, *registry_path = NULL;
    bool as_json = false;
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'},
        {"registry", required_argument, NULL, 'r'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":d:r:jh", options, NULL)) != -1) {
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'r':
            registry_path = optarg;
            break;
        case 'j':
            as_json = true;
            break;
        case 'h':
            fputs (s_audit_usage, stdout);
            return IH_CLI_OK;
        default:
            return ih_cli_bad_option (sub, argv, opt);
        }
    }
    if (optind != argc)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "unexpected argument '%s'; see --help",
                            argv[optind]);
    if (!dir || !registry_path)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--data and --registry are required; see --help");

    s_audit_t self;
    memset (&self, 0, sizeof self);
    self.next_hub_seq = 1;
    ih_log_t *log = NULL;
    int rc = IH_CLI_FAIL;
    ih_err_t err = ih_registry_load (registry_path, &self.registry);
    if (err != IH_OK) {
        ih_cli_fail (sub, err, IH_CLI_FAIL, "cannot load registry %s: %s",
                     registry_path, ih_strerror (err));
        goto cleanup;
    }
    struct stat st;
    if (stat (dir, &st) != 0 || !S_ISDIR (st.st_mode)) {
        ih_cli_fail (sub, IH_E_IO, IH_CLI_FAIL, "'%s' is not a directory", dir);
        goto cleanup;
    }
    log = ih_log_new (dir, true, 0);
    if (!log) {
        ih_cli_fail (sub, IH_E_STORE, IH_CLI_FAIL,
                     "cannot open the log in %s (see above)", dir);
        goto cleanup;
    }
    self.chains = zhashx_new ();
    self.types = zhashx_new ();
    assert (self.chains && self.types);
    zhashx_set_destructor (self.chains, s_free_chain);
    zhashx_set_destructor (self.types, s_free_item);

    //  One snapshot for the replay and both table checks
    err = ih_log_pin (log);
    if (err == IH_OK)
        err = ih_log_read_raw (log, 1, 0, s_check, &self);
    if (err == IH_OK && !self.failed)
        err = ih_log_sites (log, s_check_site, &self);
    if (err == IH_OK && !self.failed) {
        //  Sites with events but no entry in the sites table
        zlistx_t *keys = s_sorted_keys (self.chains);
        for (const char *id = (const char *) zlistx_first (keys);
             id && !self.failed; id = (const char *) zlistx_next (keys)) {
            s_chain_t *chain = (s_chain_t *) zhashx_lookup (self.chains, id);
            if (!chain->in_sites)
                s_fail_site (&self, id, IH_E_MISSING,
                             "site '%s' has %" PRIu64
                             " events in the log (the last at hub_seq=%" PRIu64
                             ") but no entry in the hub's sites table",
                             id, chain->count,
                             chain->hub_seqs[chain->count - 1]);
        }
        zlistx_destroy (&keys);
    }
    if (err == IH_OK && !self.failed)
        err = ih_log_index (log, s_check_index, &self);
    if (err == IH_OK && !self.failed) {
        //  Events whose index entries are missing at the end of a site
        zlistx_t *keys = s_sorted_keys (self.chains);
        for (const char *id = (const char *) zlistx_first (keys);
             id && !self.failed; id = (const char *) zlistx_next (keys)) {
            s_chain_t *chain = (s_chain_t *) zhashx_lookup (self.chains, id);
            if (chain->index_next <= chain->count)
                s_fail (&self, chain->hub_seqs[chain->index_next - 1],
                        IH_E_MISSING,
                        "the index has no entry for site '%s' seq=%" PRIu64, id,
                        chain->index_next);
        }
        zlistx_destroy (&keys);
    }
    ih_log_unpin (log);
    if (self.failed) {
        if (self.failed_at > 0)
            fprintf (stderr, "audit: FAILED at hub_seq=%" PRIu64 ": %s (%s)\n",
                     self.failed_at, self.reason, ih_err_name (self.err));
        else
            fprintf (stderr, "audit: FAILED at site=%s: %s (%s)\n",
                     self.failed_site, self.reason, ih_err_name (self.err));
        rc = IH_CLI_AUDIT;
        goto cleanup;
    }
    if (err != IH_OK) {
        ih_cli_fail (sub, err, IH_CLI_FAIL, "cannot read the log: %s",
                     ih_strerror (err));
        goto cleanup;
    }
    json_t *summary = s_summary (&self);
    if (as_json) {
        char *text = json_dumps (summary, JSON_COMPACT);
        if (text)
            puts (text);
        free (text);
    } else
        s_print_text (summary);
    json_decref (summary);
    fflush (stdout);
    rc = IH_CLI_OK;
cleanup:
    zhashx_destroy (&self.chains);
    zhashx_destroy (&self.types);
    ih_log_destroy (&log);
    ih_registry_destroy (&self.registry);
    return rc;
}
