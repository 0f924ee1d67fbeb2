/*  =========================================================================
    it_audit_remote - `incuhub audit --hub`: the full audit over the wire

    Where it sits: at the auditing end of the data flow, on the hub's
    replay socket (docs/protocol.md 5.5 and 11; docs/audit.md Step 4). A
    real incuhubd with --replay, a hub key and a checkpoint every 10
    events stores events the test signs and sends. Checks:
      - the remote audit passes and prints the same summary as the local
        audit of the same data directory: the events, site, district,
        type and indicator lines byte for byte, and in the tree line the
        same size, root, latest and trusted (checkpoints= counts those
        the remote audit checked: the latest, 1);
      - a checkpoint kept (--checkpoint-out of a remote audit) before more
        events were added: the remote audit with --trusted-checkpoint
        passes, naming its size as trusted=;
      - a checkpoint of a rewritten log (a second hub, same hub key,
        other events): the remote audit with it as --trusted-checkpoint
        fails with exit 3, naming the checkpoint's size;
      - --data together with --hub is a usage error (exit 2).
    =========================================================================*/
#include "ih_testkit.h"

#define S_SITES 3
#define S_BURST 37
#define S_WINDOW 64
#define S_TIMEOUT 30000

static const char *s_site[S_SITES] = {"lh-inc-01", "lh-inc-02", "sn-inc-01"};
static const char *s_district[S_SITES] = {"laoshan", "laoshan", "shinan"};
static const char *s_type[3] = {"door.open", "enterprise.admitted",
                                "training.held"};

static const char *s_dir;

//  Event n of the test's stream (serial numbers run on across calls).
typedef struct {
    ih_tk_site_t *sites;
    int serial; //  serial of this call's event 0
} s_stream_t;

static uint8_t *
s_stream_event (int i, size_t *size_p, void *arg)
{
    s_stream_t *stream = (s_stream_t *) arg;
    int n = stream->serial + i;
    char json[128];
    snprintf (json, sizeof json, "{\"n\":%d,\"participants\":%d}", n, n % 7);
    return ih_tk_site_sign (&stream->sites[n % S_SITES], s_type[(n / 3) % 3],
                            json, size_p);
}

//  Signs and sends count events, rotating sites and types, with a window
//  in flight; waits for every ACK.
static void
s_ingest (const char *endpoint, ih_tk_site_t *sites, int count, int *serial)
{
    s_stream_t stream = {sites, *serial};
    ih_tk_ingest (endpoint, count, S_WINDOW, S_TIMEOUT, s_stream_event,
                  &stream);
    *serial += count;
}

//  Runs `incuhub` with args; checks the exit status; returns stdout and,
//  if err_p is set, stderr.
static char *
s_run (int expect, const char *const *args, char **err_p)
{
    char *out = NULL, *err = NULL;
    int rc = ih_tk_run (s_dir, "incuhub", args, NULL, &out, &err, S_TIMEOUT);
    IH_CHECK (rc == expect, "incuhub %s %s %s: exit %d, expected %d: %s",
              args[0], args[1], args[2], rc, expect, err);
    if (err_p)
        *err_p = err;
    else
        free (err);
    return out;
}

//  Runs `incuhub audit` over plain text against the hub serving replay,
//  with the bureau of registry and the hub's public key pub_key, plus
//  option (and its value, unless NULL) unless option is NULL; checks the
//  exit status; returns stdout and, if err_p is set, stderr.
static char *
s_audit_remote (int expect, const char *replay, const char *registry,
                const char *pub_key, const char *option, const char *value,
                char **err_p)
{
    const char *args[] = {"audit",
                          "--hub",
                          replay,
                          "--bureau-key",
                          ih_tk_bureau_pub (registry),
                          "--hub-key",
                          pub_key,
                          "--plaintext",
                          option,
                          value,
                          NULL};
    return s_run (expect, args, err_p);
}

//  Starts a hub with the replay service, the key and a checkpoint every 10
//  events; copies its ingest and replay endpoints.
static ih_proc_t *
s_hub_start (const char *data, const char *registry, const char *key,
             const char *name, char *ingest, char *replay)
{
    char ingest_ep[300], pub_ep[300], replay_ep[300];
    snprintf (ingest_ep, sizeof ingest_ep, "ipc://%s/%s-ingest.sock", s_dir,
              name);
    snprintf (pub_ep, sizeof pub_ep, "ipc://%s/%s-pub.sock", s_dir, name);
    snprintf (replay_ep, sizeof replay_ep, "ipc://%s/%s-replay.sock", s_dir,
              name);
    const char *extra[] = {
        "--replay", replay_ep,         "--key",   key, "--checkpoint-events",
        "10",       "--checkpoint-ms", "3600000", NULL};
    ih_proc_t *hub = ih_tk_hub_start_ex (s_dir, data, registry, ingest_ep,
                                         pub_ep, extra, ingest, NULL);
    char *line = ih_proc_wait_line (hub, "incuhubd: ready", 5000);
    char *value = line ? ih_tk_field (line, "replay") : NULL;
    IH_CHECK (value, "no replay= in the ready line");
    snprintf (replay, 256, "%s", value);
    free (value);
    free (line);
    return hub;
}

//  The line of text starting with prefix, copied (caller frees).
static char *
s_line (const char *text, const char *prefix)
{
    const char *at = strstr (text, prefix);
    IH_CHECK (at && (at == text || at[-1] == '\n'), "no '%s' line in %s",
              prefix, text);
    return strndup (at, strcspn (at, "\n"));
}

//  The value of key in the tree line of an audit's output, copied (caller
//  frees); prints the line, saying what audit it was.
static char *
s_tree_field (const char *out, const char *key, const char *what)
{
    char *tree = s_line (out, "tree size=");
    char *value = ih_tk_field (tree, key);
    IH_CHECK (value, "no %s= in '%s'", key, tree);
    printf ("it_audit_remote: %s: %s\n", what, tree);
    free (tree);
    return value;
}

//  Checks that local and remote summaries agree (see the header).
static void
s_compare (const char *local, const char *remote)
{
    const char *tree_local = strstr (local, "tree size=");
    const char *tree_remote = strstr (remote, "tree size=");
    IH_CHECK (tree_local && tree_remote, "no tree line");
    size_t head = (size_t) (tree_local - local);
    IH_CHECK (head > 0 && (size_t) (tree_remote - remote) == head &&
                  memcmp (local, remote, head) == 0,
              "summaries differ before the tree line:\n%s\n---\n%s", local,
              remote);
    char *line_local = s_line (local, "tree size=");
    char *line_remote = s_line (remote, "tree size=");
    const char *keys[] = {"size", "root", "latest", "trusted"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char *a = ih_tk_field (line_local, keys[i]);
        char *b = ih_tk_field (line_remote, keys[i]);
        IH_CHECK (a && b && streq (a, b), "tree %s: local %s, remote %s",
                  keys[i], a, b);
        free (a);
        free (b);
    }
    char *checked = ih_tk_field (line_remote, "checkpoints");
    IH_CHECK (checked && streq (checked, "1"), "remote checkpoints=%s",
              checked);
    free (checked);
    IH_CHECK (strstr (remote, "\naudit: OK\n"), "no audit: OK");
    printf ("it_audit_remote: summaries agree (%zu bytes before the tree "
            "line)\n  local:  %s\n  remote: %s\n",
            head, line_local, line_remote);
    free (line_local);
    free (line_remote);
}

int
main (void)
{
    s_dir = ih_tk_tempdir ();
    char data[512], data2[512], registry[512], registry2[512], key[600],
        pub_key[600], kept[600], forged[600], sites_dir2[600];
    char ingest[256], replay[256], ingest2[256], replay2[256];
    snprintf (data, sizeof data, "%s/data", s_dir);
    snprintf (data2, sizeof data2, "%s/data2", s_dir);
    snprintf (registry, sizeof registry, "%s/registry.json", s_dir);
    //  The second hub's registry has its own kit bureau (in its own
    //  directory), which lets incubators publish any type.
    snprintf (registry2, sizeof registry2, "%s/sites2/registry.json", s_dir);
    snprintf (key, sizeof key, "%s/hub-qd.key", s_dir);
    snprintf (pub_key, sizeof pub_key, "%s/hub-qd.pub", s_dir);
    snprintf (kept, sizeof kept, "%s/kept.checkpoint", s_dir);
    snprintf (forged, sizeof forged, "%s/forged.checkpoint", s_dir);
    snprintf (sites_dir2, sizeof sites_dir2, "%s/sites2", s_dir);
    IH_CHECK (zsys_dir_create ("%s", sites_dir2) == 0, "mkdir");
    const char *keygen[] = {"keygen", "hub-qd", "--dir", s_dir, NULL};
    free (s_run (0, keygen, NULL));
    ih_tk_site_t sites[S_SITES];
    for (int i = 0; i < S_SITES; i++)
        ih_tk_site_init (&sites[i], s_dir, registry, s_site[i], "incubator",
                         s_district[i]);
    ih_proc_t *hub = s_hub_start (data, registry, key, "a", ingest, replay);
    //  The bureau's registry events take the log's first hub_seqs; the
    //  audit counts them as events too.
    int base = (int) ih_tk_journal_count (registry);

    //  Two bursts, then an auditor keeps the latest checkpoint
    int serial = 0;
    s_ingest (ingest, sites, S_BURST, &serial);
    s_ingest (ingest, sites, S_BURST, &serial);
    char *out = s_audit_remote (0, replay, registry, pub_key,
                                "--checkpoint-out", kept, NULL);
    char *kept_size = s_tree_field (out, "latest", "keeping a checkpoint");
    IH_CHECK (atoi (kept_size) > 0 && atoi (kept_size) <= base + 2 * S_BURST,
              "kept checkpoint size %s after %d events", kept_size,
              base + 2 * S_BURST);
    free (out);

    //  More events, then local and remote audits of the same log
    s_ingest (ingest, sites, S_BURST, &serial);
    s_ingest (ingest, sites, S_BURST, &serial);
    const char *local_args[] = {"audit",
                                "--data",
                                data,
                                "--bureau-key",
                                ih_tk_bureau_pub (registry),
                                "--hub-key",
                                pub_key,
                                NULL};
    char *local = s_run (0, local_args, NULL);
    char *remote =
        s_audit_remote (0, replay, registry, pub_key, NULL, NULL, NULL);
    s_compare (local, remote);
    free (local);
    free (remote);

    //  The JSON form agrees too, but for the checkpoint count
    out = s_audit_remote (0, replay, registry, pub_key, "--json", NULL, NULL);
    char head[64];
    snprintf (head, sizeof head, "{\"ok\":true,\"events\":%d,",
              base + 4 * S_BURST);
    IH_CHECK (strncmp (out, head, strlen (head)) == 0, "json: %s", out);
    free (out);

    //  The kept checkpoint: the served log extends it
    out = s_audit_remote (0, replay, registry, pub_key, "--trusted-checkpoint",
                          kept, NULL);
    char *trusted = s_tree_field (out, "trusted", "with the kept checkpoint");
    IH_CHECK (streq (trusted, kept_size), "trusted=%s, kept size=%s", trusted,
              kept_size);
    free (trusted);
    free (out);

    //  A rewritten log: another hub, the same hub key, other events
    ih_tk_site_t forgers[S_SITES];
    for (int i = 0; i < S_SITES; i++)
        ih_tk_site_init (&forgers[i], sites_dir2, registry2, s_site[i],
                         "incubator", s_district[i]);
    ih_proc_t *hub2 =
        s_hub_start (data2, registry2, key, "b", ingest2, replay2);
    int serial2 = 1000;
    s_ingest (ingest2, forgers, 2 * S_BURST, &serial2);
    out = s_audit_remote (0, replay2, registry2, pub_key, "--checkpoint-out",
                          forged, NULL);
    char *forged_size =
        s_tree_field (out, "latest", "the rewritten log's checkpoint");
    IH_CHECK (atoi (forged_size) > 0, "forged size %s", forged_size);
    free (out);
    char *err = NULL;
    free (s_audit_remote (3, replay, registry, pub_key, "--trusted-checkpoint",
                          forged, &err));
    char expect[256];
    snprintf (expect, sizeof expect,
              "audit: FAILED at hub_seq=%s: hub_seq 1..%s as stored do not "
              "give the root of the trusted checkpoint of size=%s",
              forged_size, forged_size, forged_size);
    IH_CHECK (strstr (err, expect), "rewritten: %s", err);
    free (forged_size);
    printf ("it_audit_remote: with a rewritten log's checkpoint: exit 3: %s",
            err);
    free (err);

    //  Usage: --data and --hub together
    const char *both_args[] = {"audit",
                               "--data",
                               data,
                               "--hub",
                               replay,
                               "--bureau-key",
                               ih_tk_bureau_pub (registry),
                               NULL};
    free (s_run (2, both_args, NULL));

    free (kept_size);
    ih_tk_stop (&hub2, "hub b");
    ih_tk_stop (&hub, "hub a");
    for (int i = 0; i < S_SITES; i++) {
        ih_tk_site_fini (&sites[i]);
        ih_tk_site_fini (&forgers[i]);
    }
    ih_tk_cleanup ();
    printf ("it_audit_remote: OK\n");
    return 0;
}
