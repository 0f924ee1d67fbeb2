/*  =========================================================================
    ih_cmd_audit - `incuhub audit`: prove the log is whole, then summarise

    The auditor's end of the data flow. It reads the hub's log read-only,
    in hub order, and checks every record against what the hub promised:

      1. hub sequences run 1, 2, 3 ... with no hole (a hole is a removed
         record);
      2. the record and the signed event inside it decode;
      3. the registry admits the event at that point of the log: the site
         is registered and not revoked, the signature verifies against
         the key that was valid for its (site, seq) (so nobody, the hub
         included, changed the event; events signed before a rotation
         verify with the old key), its kind may publish the type, and a
         registry.* event comes from the pinned bureau and applies;
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

      8. the Merkle tree (docs/protocol.md section 11), recomputed from the
         records as they are stored (received time and hub order
         included), gives the root of every checkpoint the hub stored, at
         its size; with --hub-key each checkpoint's signature verifies;
         with --trusted-checkpoint (one the auditor kept from before) the
         log still extends it: same root at its size, so nothing it
         covered was changed, reordered or cut off since.

    Remote (--hub, the replay endpoint): the same records come through the
    replay service instead (ih_audit_remote.c rebuilds each one exactly
    as stored), so checks 1-5 and the tree of 8 are the same code, fed by
    another record source (s_source_t). Checks 6 and 7 and the stored
    checkpoints of 8 read the hub's private tables, which the protocol
    does not serve: remotely 8 checks the latest checkpoint the hub serves
    (fetched before the records, so the stream covers its size) and the
    trusted one.

    The registry (check 3) is rebuilt exactly as the hub builds it
    (hub/ih_registry.h): from the bureau key the auditor pins
    (--bureau-key), applying the bureau's registry.* events as they come
    in log order; ih_registry_admit gets the audit's own per-site last seq
    so far for a rotation's from_seq check. So the audit trusts nothing
    of the hub's registry, only the bureau's key.

    It stops at the first failure, names its hub sequence (or, for a
    table that disagrees, the site; for a bad signature, the checkpoint
    size) and exits 3. See docs/architecture.md, "What the audit proves
    today", and docs/audit.md.
    Otherwise it prints a summary: totals, each site's count, last seq and
    chain head (the hash of its last event; an auditor who noted the heads
    earlier can see that no event was cut off the end), events per district
    and per type, and the plan's indicators counted from the event types.
    The summary is also the closing view of the demo.
    =========================================================================*/
#include <getopt.h>
#include <stdarg.h>
#include "ih_audit_remote.h"
#include "ih_checkpoint.h"
#include "ih_cli.h"
#include "ih_event.h"
#include "ih_merkle.h"
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
    "Usage: incuhub audit --data DIR --bureau-key FILE.pub [--json]\n"
    "       [--hub-key FILE.pub] [--trusted-checkpoint FILE]\n"
    "       [--checkpoint-out FILE]\n"
    "       incuhub audit --hub REPLAY_ENDPOINT --bureau-key FILE.pub\n"
    "       [--hub-key FILE.pub --key FILE | --plaintext] [--json]\n"
    "       [--trusted-checkpoint FILE] [--checkpoint-out FILE]\n"
    "       [--timeout MS]\n"
    "\n"
    "Verifies the hub's whole log (data directory DIR, opened read-only):\n"
    "hub sequences contiguous from 1 (a hole is a removed record); every\n"
    "record and event decodes; every event is admitted by the site\n"
    "registry as it stood at that point of the log; per site, seq runs\n"
    "1, 2, 3 ... and prev is the hash of the site's previous event.\n"
    "The registry is rebuilt from the bureau's key (--bureau-key, the\n"
    "bureau's NAME.pub, pinned like the hub's bureau_key) and the\n"
    "bureau's registry.* events in log order, as the hub does: each event\n"
    "must come from a registered site whose keys are not revoked at that\n"
    "point, verify against the key valid for its seq (events signed\n"
    "before a key rotation verify with the old key), be of a type its\n"
    "kind may publish, and a registry change must come from the bureau\n"
    "and apply.\n"
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
    "cut together with a matching rewrite of the hub's tables. Those are\n"
    "covered by the Merkle tree: the audit recomputes it from the records\n"
    "and checks it gives the root of every checkpoint the hub signed (with\n"
    "--hub-key, each signature too); with --trusted-checkpoint, a\n"
    "checkpoint you kept earlier (text form), it proves the log still\n"
    "extends it, so nothing it covered was changed since. See\n"
    "docs/audit.md.\n"
    "\n"
    "Remote (--hub instead of --data): the whole log is read through the\n"
    "hub's replay service (hub_seq 1 to the end, with flow control), each\n"
    "record rebuilt exactly as stored, and the same per-event checks and\n"
    "tree recomputation run on it. Local only: the checks of the hub's\n"
    "sites table and index, and of every stored checkpoint, read the hub's\n"
    "private tables, which the protocol does not serve. Remotely the audit\n"
    "checks instead the latest checkpoint the hub serves (fetched before\n"
    "the log: its root at its size and, with --hub-key, its signature) and\n"
    "the trusted one; checkpoints= in the tree line then counts the hub's\n"
    "checkpoints checked (1, or 0 if the hub has none).\n"
    "\n"
    "On success prints a summary on stdout and exits 0:\n"
    "  events=N sites=N last_hub_seq=N\n"
    "  site=ID kind=K district=D count=N last_seq=N head=<64 hex>\n"
    "  district=D sites=N events=N\n"
    "  type=T count=N\n"
    "  indicator=NAME value=N target=N source=TYPE[+TYPE][:FIELD]\n"
    "  tree size=N root=<64 hex> checkpoints=N latest=N trusted=N\n"
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
    "(registry faults: IH_E_UNKNOWN_SITE, IH_E_REVOKED, IH_E_BADSIG,\n"
    "IH_E_DENIED, IH_E_REGISTRY; the reason names the site and seq)\n"
    "or, when the sites table or index disagrees with no event to name:\n"
    "  audit: FAILED at site=ID: <reason> (<IH_E_NAME>)\n"
    "  audit: FAILED at checkpoint size=N: <reason> (<IH_E_NAME>)\n"
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
    "  -H, --hub ENDPOINT    instead of --data: the hub's replay endpoint\n"
    "  -T, --timeout MS      with --hub: wait at most MS for each answer\n"
    "                        of the hub (default 10000)\n"
    "  -b, --bureau-key FILE the bureau's public key (NAME.pub): the root\n"
    "                        of the registry (required)\n"
    "  -j, --json            print the summary as one JSON object\n"
    "  -k, --hub-key FILE    the hub's public key (NAME.pub): verify\n"
    "                        every checkpoint's signature; with --hub\n"
    "                        also CURVE to the hub (needs --key)\n"
    "  --key FILE            with --hub: your own secret key (NAME.key),\n"
    "                        registered with read scope all (an auditor)\n"
    "  --plaintext           with --hub: no CURVE (development only):\n"
    "                        local endpoints only; --hub-key then only\n"
    "                        checks checkpoint signatures\n"
    "  -t, --trusted-checkpoint FILE\n"
    "                        a checkpoint kept earlier (text form; needs\n"
    "                        --hub-key): prove the log extends it\n"
    "  -o, --checkpoint-out FILE\n"
    "                        after a passing audit, write the latest\n"
    "                        checkpoint's text form to FILE, to keep\n"
    "                        (remote: the one the hub served)\n"
    "  -h, --help            this text\n";

//  A checkpoint, decoded and as signed.
typedef struct {
    ih_checkpoint_t cp;
    uint8_t bytes[IH_CHECKPOINT_MAX];
    size_t size;
} s_cp_t;

//  One site's chain as seen so far.
typedef struct {
    ih_site_t site;             //  as registered at its first event
    uint64_t count;             //  events seen
    uint64_t last_seq;          //  0 before the first event
    uint8_t head[IH_HASH_SIZE]; //  hash of the last event; zeros at first
    uint64_t *hub_seqs;         //  [seq - 1] = hub_seq of that event
    size_t hub_seqs_max;        //  allocated entries of hub_seqs
    bool in_sites;              //  the hub's sites table has this site
    uint64_t index_next;        //  next seq the index walk must see
} s_chain_t;

typedef struct {
    ih_registry_t *registry; //  who may sign, with which key, at this point
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
    uint64_t failed_checkpoint;        //  else the checkpoint size, if set
    //  The Merkle tree recomputed from the records: the latest complete
    //  subtree of each level is all a root of the current size needs
    //  The two latest subtrees of each level (ih_merkle_append puts a
    //  node before it gets its left sibling): slot [l][n & 1] holds (l, n)
    uint64_t levels[2]; //  bit l of levels[s]: slot [l][s] is set
    uint64_t index[64][2];
    uint8_t hash[64][2][IH_MERKLE_HASH_SIZE];
    s_cp_t *checkpoints; //  stored ones by size, then the trusted
    size_t ncheckpoints;
    size_t next_checkpoint; //  first one whose size is not reached yet
    size_t trusted_at;      //  index of the trusted checkpoint, or SIZE_MAX
    uint8_t root[IH_MERKLE_HASH_SIZE]; //  root of the whole log
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

//  Records the fault (the first one: the audit stops there). s_fail and
//  s_fail_site return -1, which stops ih_log_read and the other walks.
static void
s_vfail (s_audit_t *self, uint64_t hub_seq, ih_err_t err, const char *format,
         va_list args)
{
    vsnprintf (self->reason, sizeof self->reason, format, args);
    self->failed = true;
    self->failed_at = hub_seq;
    self->err = err;
}

static int s_fail (s_audit_t *self, uint64_t hub_seq, ih_err_t err,
                   const char *format, ...) CHECK_PRINTF (4);

static int
s_fail (s_audit_t *self, uint64_t hub_seq, ih_err_t err, const char *format,
        ...)
{
    va_list args;
    va_start (args, format);
    s_vfail (self, hub_seq, err, format, args);
    va_end (args);
    return -1;
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
    s_vfail (self, 0, err, format, args);
    va_end (args);
    snprintf (self->failed_site, sizeof self->failed_site, "%s", site);
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

//  Merkle store over the frontier (see ih_merkle.h: appending and taking
//  the root of the current size only touch the latest subtree per level).
static int
s_frontier_get (uint64_t level, uint64_t index, uint8_t *hash_out, void *arg)
{
    s_audit_t *self = (s_audit_t *) arg;
    int slot = (int) (index & 1);
    if (level >= 64 || !(self->levels[slot] & ((uint64_t) 1 << level)) ||
        self->index[level][slot] != index)
        return -1;
    memcpy (hash_out, self->hash[level][slot], IH_MERKLE_HASH_SIZE);
    return 0;
}

static int
s_frontier_put (uint64_t level, uint64_t index, const uint8_t *hash, void *arg)
{
    s_audit_t *self = (s_audit_t *) arg;
    if (level >= 64)
        return -1;
    int slot = (int) (index & 1);
    self->levels[slot] |= (uint64_t) 1 << level;
    self->index[level][slot] = index;
    memcpy (self->hash[level][slot], hash, IH_MERKLE_HASH_SIZE);
    return 0;
}

//  Compares the recomputed root of the first `size` records with the
//  checkpoints of that size. Returns non-zero at a fault.
static int
s_check_roots (s_audit_t *self, uint64_t size)
{
    uint8_t root[IH_MERKLE_HASH_SIZE];
    if (ih_merkle_root (size, s_frontier_get, self, root) != IH_OK)
        return s_fail (self, size, IH_E_INTERNAL, "cannot compute the root");
    memcpy (self->root, root, sizeof root);
    while (self->next_checkpoint < self->ncheckpoints &&
           self->checkpoints[self->next_checkpoint].cp.size == size) {
        bool trusted = self->next_checkpoint == self->trusted_at;
        if (memcmp (root, self->checkpoints[self->next_checkpoint].cp.root,
                    IH_MERKLE_HASH_SIZE) != 0)
            return s_fail (self, size ? size : 1, IH_E_PROOF,
                           "hub_seq 1..%" PRIu64 " as stored do not give the "
                           "root of the %s checkpoint of size=%" PRIu64
                           " (records changed, removed or reordered "
                           "since it was signed)",
                           size, trusted ? "trusted" : "hub's signed", size);
        self->next_checkpoint++;
    }
    return 0;
}

//  Adds one stored record to the recomputed tree and checks the roots of
//  checkpoints of the new size.
static int
s_tree_add (s_audit_t *self, const uint8_t *record, size_t size)
{
    uint8_t leaf[IH_MERKLE_HASH_SIZE];
    ih_merkle_leaf_hash (record, size, leaf);
    uint64_t count = self->next_hub_seq - 2; //  leaves before this one
    if (ih_merkle_append (count, leaf, s_frontier_get, self, s_frontier_put,
                          self) != IH_OK)
        return s_fail (self, count + 1, IH_E_INTERNAL,
                       "cannot add the record to the tree");
    return s_check_roots (self, count + 1);
}

//  ih_log_checkpoints callback: collects the stored checkpoints.
static int
s_collect_checkpoint (const uint8_t *bytes, size_t size, void *arg)
{
    s_audit_t *self = (s_audit_t *) arg;
    s_cp_t *grown = (s_cp_t *) realloc (
        self->checkpoints, (self->ncheckpoints + 2) * sizeof (s_cp_t));
    assert (grown);
    self->checkpoints = grown;
    s_cp_t *cp = &self->checkpoints[self->ncheckpoints];
    ih_err_t err = size > IH_CHECKPOINT_MAX
                       ? IH_E_TOOBIG
                       : ih_checkpoint_decode (bytes, size, &cp->cp);
    if (err == IH_OK) {
        memcpy (cp->bytes, bytes, size);
        cp->size = size;
    } else {
        self->failed_checkpoint =
            self->ncheckpoints
                ? self->checkpoints[self->ncheckpoints - 1].cp.size + 1
                : 1;
        return s_fail (self, 0, err,
                       "a stored checkpoint (after size=%" PRIu64
                       ") does not decode",
                       self->failed_checkpoint - 1);
    }
    self->ncheckpoints++;
    return 0;
}

//  Verifies a checkpoint's signature and log id with the hub's key.
static int
s_check_signature (s_audit_t *self, const s_cp_t *cp, ih_key_t *hub_key,
                   const char *which)
{
    if (!streq (cp->cp.log_id, ih_key_name (hub_key)) ||
        ih_checkpoint_verify (cp->bytes, cp->size, ih_key_public (hub_key)) !=
            IH_OK) {
        self->failed_checkpoint = cp->cp.size ? cp->cp.size : 1;
        return s_fail (self, 0, IH_E_BADSIG,
                       "the %s checkpoint of log '%s' is not signed by hub "
                       "key '%s'",
                       which, cp->cp.log_id, ih_key_name (hub_key));
    }
    return 0;
}

//  Adds the trusted checkpoint to the ones the tree is checked against:
//  in size order, after stored ones of the same size.
static void
s_add_trusted (s_audit_t *self, const s_cp_t *trusted)
{
    s_cp_t *grown = (s_cp_t *) realloc (
        self->checkpoints, (self->ncheckpoints + 1) * sizeof (s_cp_t));
    assert (grown);
    self->checkpoints = grown;
    size_t at = self->ncheckpoints;
    while (at > 0 && self->checkpoints[at - 1].cp.size > trusted->cp.size)
        at--;
    memmove (&self->checkpoints[at + 1], &self->checkpoints[at],
             (self->ncheckpoints - at) * sizeof (s_cp_t));
    self->checkpoints[at] = *trusted;
    self->ncheckpoints++;
    self->trusted_at = at;
}

//  ih_registry_admit's last: the highest seq of site the audit has seen so
//  far in the log (0 if none), as the hub's log would answer at this point.
static uint64_t
s_last_seq (const char *site, void *arg)
{
    s_audit_t *self = (s_audit_t *) arg;
    s_chain_t *chain = (s_chain_t *) zhashx_lookup (self->chains, site);
    return chain ? chain->last_seq : 0;
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
    if (s_tree_add (self, record, record_size))
        return -1;

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
    //  The registry as it stands here decides (the same code as the hub's
    //  ingest, with no connection peer and our own last seqs)
    char why[256] = "";
    err = ih_registry_admit (self->registry, &event, bytes, size, NULL,
                             s_last_seq, self, why, sizeof why);
    if (err != IH_OK)
        return s_fail (
            self, hub_seq, err,
            "the registry refuses site '%s' seq=%" PRIu64 " type=%s here: %s",
            event.site, event.seq, event.type, *why ? why : ih_strerror (err));

    s_chain_t *chain = (s_chain_t *) zhashx_lookup (self->chains, event.site);
    if (!chain) {
        chain = (s_chain_t *) zmalloc (sizeof (s_chain_t));
        assert (chain);
        //  Admitted, so registered: its kind and district never change
        if (!ih_registry_lookup (self->registry, event.site, &chain->site))
            snprintf (chain->site.id, sizeof chain->site.id, "%s", event.site);
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
    //  In the log and whole: a registry change now takes effect
    ih_registry_apply (self->registry, &event);

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
            json_pack ("{s:s, s:s, s:I, s:I, s:s}", "kind", chain->site.kind,
                       "district", chain->site.district, "count",
                       (json_int_t) chain->count, "last_seq",
                       (json_int_t) chain->last_seq, "head", head));
        uint64_t *totals =
            (uint64_t *) zhashx_lookup (districts, chain->site.district);
        if (!totals) {
            totals = (uint64_t *) zmalloc (2 * sizeof (uint64_t));
            assert (totals);
            zhashx_insert (districts, chain->site.district, totals);
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
    json_t *tree = json_object_get (summary, "tree");
    printf ("tree size=%" JSON_INTEGER_FORMAT
            " root=%s checkpoints=%" JSON_INTEGER_FORMAT
            " latest=%" JSON_INTEGER_FORMAT " trusted=%" JSON_INTEGER_FORMAT
            "\n",
            json_integer_value (json_object_get (tree, "size")),
            json_string_value (json_object_get (tree, "root")),
            json_integer_value (json_object_get (tree, "checkpoints")),
            json_integer_value (json_object_get (tree, "latest")),
            json_integer_value (json_object_get (tree, "trusted")));
    printf ("audit: OK\n");
}

//  Reads a checkpoint's text form from path into cp (not the signature).
//  Reports and returns IH_E_IO (cannot read) or the parse error.
static ih_err_t
s_load_trusted (const char *sub, const char *path, s_cp_t *cp)
{
    char text[IH_CHECKPOINT_TEXT_MAX + 1];
    FILE *file = fopen (path, "rb");
    if (!file) {
        ih_cli_fail (sub, IH_E_IO, IH_CLI_FAIL, "cannot read %s: %s", path,
                     strerror (errno));
        return IH_E_IO;
    }
    size_t got = fread (text, 1, sizeof text - 1, file);
    fclose (file);
    text[got] = 0;
    ih_err_t err = strlen (text) != got
                       ? IH_E_MALFORMED
                       : ih_checkpoint_from_text (text, cp->bytes, &cp->size);
    if (err == IH_OK)
        err = ih_checkpoint_decode (cp->bytes, cp->size, &cp->cp);
    if (err != IH_OK)
        fprintf (stderr,
                 "audit: FAILED: the trusted checkpoint %s is not a "
                 "checkpoint's text form (%s)\n",
                 path, ih_err_name (err));
    return err;
}

//  The latest of the hub's checkpoints (stored locally, served remotely),
//  or NULL if it has none; never the trusted one.
static const s_cp_t *
s_latest (s_audit_t *self)
{
    const s_cp_t *latest = NULL;
    for (size_t i = 0; i < self->ncheckpoints; i++)
        if (i != self->trusted_at)
            latest = &self->checkpoints[i];
    return latest;
}

//  Writes the latest stored checkpoint's text form to path.
static int
s_write_latest (const char *sub, s_audit_t *self, const char *path)
{
    const s_cp_t *latest = s_latest (self);
    if (!latest) {
        ih_cli_fail (sub, IH_E_MISSING, IH_CLI_FAIL,
                     "the log has no checkpoint to write (is the hub "
                     "running with its key?)");
        return -1;
    }
    char *text = NULL;
    ih_err_t err = ih_checkpoint_to_text (latest->bytes, latest->size, &text);
    FILE *file = err == IH_OK ? fopen (path, "wb") : NULL;
    bool ok = file && fputs (text, file) >= 0;
    if (file && fclose (file) != 0)
        ok = false;
    free (text);
    if (!ok) {
        ih_cli_fail (sub, IH_E_IO, IH_CLI_FAIL, "cannot write %s", path);
        return -1;
    }
    return 0;
}

//  Where the records and checkpoints come from: a copy of the hub's data
//  directory (log set) or the hub's replay service (hub set). The checks
//  are the same for both; only what is fed to them differs.
typedef struct {
    ih_log_t *log;                 //  local, opened read-only and pinned
    const char *hub;               //  remote: the replay endpoint
    ih_cli_transport_t *transport; //  remote: how to connect (checked)
    int timeout;                   //  remote: ms to wait for each answer
} s_source_t;

//  Feeds the checkpoints to s_collect_checkpoint: locally every stored
//  one; remotely the latest the hub serves (none if it has none), asked
//  for before the records, so the log streamed next covers its size.
static ih_err_t
s_source_checkpoints (s_source_t *source, s_audit_t *self)
{
    if (source->log)
        return ih_log_checkpoints (source->log, s_collect_checkpoint, self);
    uint8_t bytes[IH_CHECKPOINT_MAX];
    size_t size = 0;
    ih_err_t err = ih_audit_remote_checkpoint (
        source->hub, source->transport, 0, source->timeout, bytes, &size);
    if (err == IH_E_MISSING)
        return IH_OK; //  a hub without its key signs none
    if (err == IH_OK)
        s_collect_checkpoint (bytes, size, self);
    return err;
}

//  Feeds every record, hub_seq 1 to the end, to s_check.
static ih_err_t
s_source_records (s_source_t *source, s_audit_t *self)
{
    if (source->log)
        return ih_log_read_raw (source->log, 1, 0, s_check, self);
    return ih_audit_remote_read (source->hub, source->transport,
                                 source->timeout, s_check, self);
}

//  Local only: the hub's sites table and index against the replay.
static ih_err_t
s_check_tables (ih_log_t *log, s_audit_t *self)
{
    ih_err_t err = ih_log_sites (log, s_check_site, self);
    if (err == IH_OK && !self->failed) {
        //  Sites with events but no entry in the sites table
        zlistx_t *keys = s_sorted_keys (self->chains);
        for (const char *id = (const char *) zlistx_first (keys);
             id && !self->failed; id = (const char *) zlistx_next (keys)) {
            s_chain_t *chain = (s_chain_t *) zhashx_lookup (self->chains, id);
            if (!chain->in_sites)
                s_fail_site (self, id, IH_E_MISSING,
                             "site '%s' has %" PRIu64
                             " events in the log (the last at hub_seq=%" PRIu64
                             ") but no entry in the hub's sites table",
                             id, chain->count,
                             chain->hub_seqs[chain->count - 1]);
        }
        zlistx_destroy (&keys);
    }
    if (err == IH_OK && !self->failed)
        err = ih_log_index (log, s_check_index, self);
    if (err == IH_OK && !self->failed) {
        //  Events whose index entries are missing at the end of a site
        zlistx_t *keys = s_sorted_keys (self->chains);
        for (const char *id = (const char *) zlistx_first (keys);
             id && !self->failed; id = (const char *) zlistx_next (keys)) {
            s_chain_t *chain = (s_chain_t *) zhashx_lookup (self->chains, id);
            if (chain->index_next <= chain->count)
                s_fail (self, chain->hub_seqs[chain->index_next - 1],
                        IH_E_MISSING,
                        "the index has no entry for site '%s' seq=%" PRIu64, id,
                        chain->index_next);
        }
        zlistx_destroy (&keys);
    }
    return err;
}

int
ih_cmd_audit (int argc, char *argv[])
{
    const char *sub = "audit";
    const char *dir = NULL, *bureau_path = NULL;
    const char *trusted_path = NULL, *out_path = NULL;
    const char *hub = NULL;
    int timeout = IH_CLI_TIMEOUT_DEFAULT;
    bool as_json = false;
    static const struct option options[] = {
        {"data", required_argument, NULL, 'd'},
        {"hub", required_argument, NULL, 'H'},
        {"timeout", required_argument, NULL, 'T'},
        {"bureau-key", required_argument, NULL, 'b'},
        {"registry", required_argument, NULL, 'r'}, //  gone: a hint
        {"json", no_argument, NULL, 'j'},
        {"hub-key", required_argument, NULL, 'k'},
        {"key", required_argument, NULL, IH_CLI_OPT_KEY},
        {"plaintext", no_argument, NULL, IH_CLI_OPT_PLAINTEXT},
        {"trusted-checkpoint", required_argument, NULL, 't'},
        {"checkpoint-out", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    ih_cli_transport_t transport;
    ih_cli_transport_init (&transport);
    ih_cli_getopt_init ();
    int opt;
    while ((opt = getopt_long (argc, argv, ":d:H:T:b:r:jk:t:o:h", options,
                               NULL)) != -1) {
        if (ih_cli_transport_option (&transport, opt, optarg))
            continue;
        switch (opt) {
        case 'd':
            dir = optarg;
            break;
        case 'H':
            hub = optarg;
            break;
        case 'T':
            if (!ih_cli_parse_timeout (sub, optarg, &timeout))
                return IH_CLI_USAGE;
            break;
        case 'b':
            bureau_path = optarg;
            break;
        case 'r':
            return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                                "--registry is gone: the registry lives in "
                                "the log; pass the bureau's public key with "
                                "--bureau-key FILE.pub");
        case 'j':
            as_json = true;
            break;
        case 'k':
            transport.hub_key_path = optarg;
            break;
        case 't':
            trusted_path = optarg;
            break;
        case 'o':
            out_path = optarg;
            break;
        case 'h':
            fputs (s_audit_usage, stdout);
            return IH_CLI_OK;
        default:
            return ih_cli_bad_option (sub, argv, opt);
        }
    }
    if (!ih_cli_no_arguments (sub, argc, argv))
        return IH_CLI_USAGE;
    if ((!dir == !hub) || !bureau_path)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--bureau-key and one of --data and --hub are "
                            "required; see --help");
    if (dir && (transport.key_path || transport.plaintext))
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--key and --plaintext need --hub; see --help");
    if (trusted_path && !transport.hub_key_path)
        return ih_cli_fail (sub, IH_E_BADARG, IH_CLI_USAGE,
                            "--trusted-checkpoint needs --hub-key; see --help");

    s_audit_t self;
    memset (&self, 0, sizeof self);
    self.next_hub_seq = 1;
    self.trusted_at = SIZE_MAX;
    ih_log_t *log = NULL;
    s_source_t source = {NULL, hub, &transport, timeout};
    ih_key_t *bureau = NULL;
    s_cp_t trusted;
    ih_key_t *hub_key = NULL; //  borrowed from transport, for checkpoints
    ih_err_t err = IH_OK;
    int rc = hub ? ih_cli_transport_check (sub, &transport, hub) : IH_CLI_OK;
    if (rc == IH_CLI_OK)
        rc = ih_cli_transport_load_hub_key (sub, &transport);
    if (rc != IH_CLI_OK)
        goto cleanup;
    rc = IH_CLI_FAIL;
    hub_key = transport.hub_key;
    if (trusted_path &&
        (err = s_load_trusted (sub, trusted_path, &trusted)) != IH_OK) {
        rc = err == IH_E_IO ? IH_CLI_FAIL : IH_CLI_AUDIT;
        goto cleanup;
    }
    err = ih_key_load (bureau_path, &bureau);
    if (err != IH_OK) {
        ih_cli_fail (sub, err, IH_CLI_FAIL,
                     "cannot load the bureau's key %s: %s", bureau_path,
                     ih_strerror (err));
        goto cleanup;
    }
    if (!ih_event_name_valid (ih_key_name (bureau))) {
        ih_cli_fail (sub, IH_E_BADNAME, IH_CLI_FAIL,
                     "the bureau's key %s names an invalid site id",
                     bureau_path);
        goto cleanup;
    }
    self.registry = ih_registry_new (bureau);
    assert (self.registry);
    if (dir && !(log = ih_cli_log_open (sub, dir)))
        goto cleanup;
    source.log = log;
    self.chains = zhashx_new ();
    self.types = zhashx_new ();
    assert (self.chains && self.types);
    zhashx_set_destructor (self.chains, s_free_chain);
    zhashx_set_destructor (self.types, s_free_item);

    //  Locally one snapshot for the replay, the tables and the checkpoints
    err = log ? ih_log_pin (log) : IH_OK;
    if (err == IH_OK)
        err = s_source_checkpoints (&source, &self);
    for (size_t i = 0;
         err == IH_OK && !self.failed && hub_key && i < self.ncheckpoints; i++)
        s_check_signature (&self, &self.checkpoints[i], hub_key, "stored");
    if (err == IH_OK && !self.failed && trusted_path &&
        s_check_signature (&self, &trusted, hub_key, "trusted") == 0)
        s_add_trusted (&self, &trusted);
    if (err == IH_OK && !self.failed)
        s_check_roots (&self, 0);
    if (err == IH_OK && !self.failed)
        err = s_source_records (&source, &self);
    if (err == IH_OK && !self.failed &&
        self.next_checkpoint < self.ncheckpoints) {
        //  A checkpoint beyond the log's end: records were cut off
        uint64_t size = self.checkpoints[self.next_checkpoint].cp.size;
        s_fail (&self, self.next_hub_seq, IH_E_GAP,
                "the log ends at hub_seq=%" PRIu64 " but the %s checkpoint "
                "of size=%" PRIu64 " covers more (records cut off?)",
                self.next_hub_seq - 1,
                self.next_checkpoint == self.trusted_at ? "trusted"
                                                        : "hub's signed",
                size);
    }
    if (err == IH_OK && !self.failed && log)
        err = s_check_tables (log, &self);
    if (log)
        ih_log_unpin (log);
    if (self.failed) {
        if (self.failed_checkpoint > 0)
            fprintf (stderr,
                     "audit: FAILED at checkpoint size=%" PRIu64 ": %s (%s)\n",
                     self.failed_checkpoint, self.reason,
                     ih_err_name (self.err));
        else if (self.failed_at > 0)
            fprintf (stderr, "audit: FAILED at hub_seq=%" PRIu64 ": %s (%s)\n",
                     self.failed_at, self.reason, ih_err_name (self.err));
        else
            fprintf (stderr, "audit: FAILED at site=%s: %s (%s)\n",
                     self.failed_site, self.reason, ih_err_name (self.err));
        rc = IH_CLI_AUDIT;
        goto cleanup;
    }
    if (err != IH_OK) {
        if (hub)
            ih_cli_fail (
                sub, err, IH_CLI_FAIL, "cannot read the log from %s: %s%s", hub,
                ih_strerror (err),
                err == IH_E_TIMEOUT ? ih_cli_transport_hint (&transport) : "");
        else
            ih_cli_fail (sub, err, IH_CLI_FAIL, "cannot read the log: %s",
                         ih_strerror (err));
        goto cleanup;
    }
    if (out_path && s_write_latest (sub, &self, out_path) != 0)
        goto cleanup;
    json_t *summary = s_summary (&self);
    char root_hex[IH_KEY_HEX_SIZE];
    ih_key_to_hex (self.root, root_hex);
    uint64_t stored = self.ncheckpoints - (trusted_path ? 1 : 0);
    const s_cp_t *latest = s_latest (&self);
    json_object_set_new (
        summary, "tree",
        json_pack ("{s:I, s:s, s:I, s:I, s:I}", "size",
                   (json_int_t) self.events, "root", root_hex, "checkpoints",
                   (json_int_t) stored, "latest",
                   (json_int_t) (latest ? latest->cp.size : 0), "trusted",
                   (json_int_t) (trusted_path ? trusted.cp.size : 0)));
    if (as_json)
        ih_cli_print_json (summary, JSON_COMPACT);
    else
        s_print_text (summary);
    json_decref (summary);
    fflush (stdout);
    rc = IH_CLI_OK;
cleanup:
    zhashx_destroy (&self.chains);
    zhashx_destroy (&self.types);
    free (self.checkpoints);
    ih_log_destroy (&log);
    ih_registry_destroy (&self.registry);
    ih_key_destroy (&bureau);
    ih_cli_transport_end (&transport);
    return rc;
}
