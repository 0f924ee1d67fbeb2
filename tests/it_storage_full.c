/*  =========================================================================
    it_storage_full - a full log refuses cleanly and resumes

    1. Map full: a hub with a 1 MiB LMDB map takes events until it NAKs
       IH_E_FULL. Everything ACKed is in the log, the log is consistent, the
       hub still answers; restarted with a larger map it takes the refused
       events, and the audit passes.
    2. Map growth: with --map-max the same load is stored without a single
       NAK, the map growing as needed.
    3. File system full (root only, on a 3 MiB tmpfs mounted for the test;
       skipped with exit 77 where mounting is not allowed): the hub NAKs
       IH_E_FULL when the disk fills, never corrupts the log, and stores
       the refused events once space is freed.
    =========================================================================*/
#include <sys/mount.h>
#include <sys/stat.h>
#include "ih_testkit.h"
#include "ih_json.h"

#define S_PAYLOAD 4000

static char s_filler[S_PAYLOAD + 1];

//  Signs the next event of site (or re-sends *pending if set) and returns
//  the hub's answer: IH_OK for an ACK, else the NAK code. On a NAK the
//  signed bytes are kept in *pending for a later resend.
static ih_err_t
s_send (zsock_t *dealer, ih_tk_site_t *site, uint8_t **pending,
        size_t *pending_size)
{
    if (!*pending) {
        char *json = zsys_sprintf ("{\"note\":\"%s\",\"n\":%" PRIu64 "}",
                                   s_filler, site->seq + 1);
        *pending =
            ih_tk_site_sign (site, "statistics.filed", json, pending_size);
        zstr_free (&json);
    }
    zmsg_t *msg = ih_wire_event (*pending, *pending_size);
    zmsg_send (&msg, dealer);
    zmsg_t *reply = zmsg_recv (dealer);
    ih_wire_t wire;
    IH_CHECK (reply && ih_wire_decode (reply, &wire) == IH_OK, "no answer");
    ih_err_t rc = wire.kind == IH_WIRE_ACK ? IH_OK : wire.code;
    IH_CHECK (wire.kind == IH_WIRE_ACK || wire.kind == IH_WIRE_NAK,
              "unexpected reply kind %d", wire.kind);
    zmsg_destroy (&reply);
    if (rc == IH_OK) {
        free (*pending);
        *pending = NULL;
    }
    return rc;
}

static ih_proc_t *
s_hub (const char *dir, const char *data, const char *registry,
       const char *ingest, const char *map_size, const char *map_max)
{
    const char *args[] = {"--data",       data,
                          "--registry",   registry,
                          "--bureau-key", ih_tk_bureau_pub (registry),
                          "--plaintext",  "--ingest",
                          ingest,         "--pub",
                          "inproc://x",   "--map-size",
                          map_size,       map_max ? "--map-max" : NULL,
                          map_max,        NULL};
    ih_proc_t *hub = ih_proc_start (dir, "incuhubd", args);
    char *line = ih_proc_wait_line (hub, "incuhubd: ready", 20000);
    IH_CHECK (line, "hub not ready (see %s)", ih_proc_stderr (hub));
    free (line);
    return hub;
}

int
main (void)
{
    memset (s_filler, 'q', S_PAYLOAD);
    const char *dir = ih_tk_tempdir ();
    char registry[512], ingest[256], data[600];
    snprintf (registry, sizeof registry, "%s/registry.json", dir);
    snprintf (ingest, sizeof ingest, "ipc://%s/ingest.sock", dir);
    uint8_t *pending = NULL;
    size_t pending_size = 0;

    //  1. Map full, then a restart with a larger map.

    snprintf (data, sizeof data, "%s/data-full", dir);
    ih_tk_site_t site;
    ih_tk_site_init (&site, dir, registry, "jimo-inc-11", "incubator", "jimo");
    ih_proc_t *hub = s_hub (dir, data, registry, ingest, "1", NULL);
    zsock_t *dealer = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (dealer, 10000);
    uint64_t acked = 0;
    ih_err_t rc;
    while ((rc = s_send (dealer, &site, &pending, &pending_size)) == IH_OK)
        IH_CHECK (++acked < 1000, "a 1 MiB map never filled");
    IH_CHECK (rc == IH_E_FULL, "expected IH_E_FULL, got %s", ih_err_name (rc));
    //  Still refusing, still answering.
    IH_CHECK (s_send (dealer, &site, &pending, &pending_size) == IH_E_FULL,
              "second try not IH_E_FULL");
    zsock_destroy (&dealer);
    IH_CHECK (ih_proc_alive (hub), "hub died on a full map");
    ih_tk_stop (&hub, "hub");
    IH_CHECK (ih_tk_log_check (data, NULL) == acked,
              "log does not hold exactly the %" PRIu64 " ACKed events", acked);
    hub = s_hub (dir, data, registry, ingest, "4", NULL);
    dealer = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (dealer, 10000);
    IH_CHECK (s_send (dealer, &site, &pending, &pending_size) == IH_OK,
              "refused event not stored after the map grew");
    for (int i = 0; i < 10; i++)
        IH_CHECK (s_send (dealer, &site, &pending, &pending_size) == IH_OK,
                  "not storing after restart");
    acked += 11;
    zsock_destroy (&dealer);
    ih_tk_stop (&hub, "hub");
    IH_CHECK (ih_tk_log_check (data, NULL) == acked, "log incomplete");
    IH_CHECK (ih_tk_audit (dir, data, registry, NULL, NULL) == 0,
              "audit of %s failed", data);
    printf ("map full: %" PRIu64 " events stored, IH_E_FULL, resumed\n", acked);

    //  2. The same load with a growing map: no NAK at all.
    snprintf (data, sizeof data, "%s/data-grow", dir);
    ih_tk_site_t grower;
    ih_tk_site_init (&grower, dir, registry, "jimo-inc-12", "incubator",
                     "jimo");
    hub = s_hub (dir, data, registry, ingest, "1", "16");
    dealer = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (dealer, 10000);
    for (uint64_t n = 0; n < acked + 200; n++)
        IH_CHECK (s_send (dealer, &grower, &pending, &pending_size) == IH_OK,
                  "event %" PRIu64 " refused although the map may grow", n);
    zsock_destroy (&dealer);
    ih_tk_stop (&hub, "hub");
    IH_CHECK (ih_tk_log_check (data, NULL) == acked + 200, "log incomplete");
    char mdb[700];
    snprintf (mdb, sizeof mdb, "%s/data.mdb", data);
    struct stat st;
    IH_CHECK (stat (mdb, &st) == 0 && st.st_size > (1 << 20),
              "data.mdb did not grow beyond 1 MiB");
    printf ("map growth: %" PRIu64 " events, data.mdb %lld KiB, no NAK\n",
            acked + 200, (long long) st.st_size / 1024);

    //  3. The file system fills up.
    char mnt[400];
    snprintf (mnt, sizeof mnt, "%s/small-fs", dir);
    mkdir (mnt, 0700);
    if (mount ("tmpfs", mnt, "tmpfs", 0, "size=3m") != 0) {
        printf ("file system full: SKIPPED (cannot mount a tmpfs: %s)\n",
                strerror (errno));
        ih_tk_site_fini (&site);
        ih_tk_site_fini (&grower);
        ih_tk_cleanup ();
        return 77;
    }
    char filler[700];
    snprintf (filler, sizeof filler, "%s/filler", mnt);
    FILE *file = fopen (filler, "w");
    static char block[256 * 1024];
    for (int i = 0; i < 4; i++)
        fwrite (block, 1, sizeof block, file);
    fclose (file);
    snprintf (data, sizeof data, "%s/data", mnt);
    ih_tk_site_t disk;
    ih_tk_site_init (&disk, dir, registry, "jimo-inc-13", "incubator", "jimo");
    hub = s_hub (dir, data, registry, ingest, "64", NULL);
    dealer = zsock_new_dealer (ingest);
    zsock_set_rcvtimeo (dealer, 10000);
    uint64_t stored = 0;
    while ((rc = s_send (dealer, &disk, &pending, &pending_size)) == IH_OK)
        IH_CHECK (++stored < 2000, "a 3 MiB file system never filled");
    IH_CHECK (rc == IH_E_FULL, "disk full answered %s, not IH_E_FULL",
              ih_err_name (rc));
    IH_CHECK (ih_proc_alive (hub), "hub died on a full disk");
    //  Space comes back: the refused event and more are stored.
    unlink (filler);
    IH_CHECK (s_send (dealer, &disk, &pending, &pending_size) == IH_OK,
              "refused event not stored after space came back");
    for (int i = 0; i < 10; i++)
        IH_CHECK (s_send (dealer, &disk, &pending, &pending_size) == IH_OK,
                  "not storing after space came back");
    stored += 11;
    zsock_destroy (&dealer);
    ih_tk_stop (&hub, "hub");
    IH_CHECK (ih_tk_log_check (data, NULL) == stored,
              "log on the full disk does not hold exactly the ACKed events");
    IH_CHECK (ih_tk_audit (dir, data, registry, NULL, NULL) == 0,
              "audit of %s failed", data);
    printf ("file system full: %" PRIu64 " events stored, IH_E_FULL when "
            "full, resumed when space came back\n",
            stored);

    //  4. The agent's outbox disk fills while the hub is away. The hub's
    //  log from case 3 leaves the small file system first.
    char path[800];
    snprintf (path, sizeof path, "%s/data.mdb", data);
    unlink (path);
    snprintf (path, sizeof path, "%s/lock.mdb", data);
    unlink (path);
    rmdir (data);
    ih_tk_site_t remote;
    ih_tk_site_init (&remote, dir, registry, "bj-remote-01", "remote",
                     "beijing");
    file = fopen (filler, "w");
    for (int i = 0; i < 4; i++)
        fwrite (block, 1, sizeof block, file);
    fclose (file);
    char outbox[700], key[700], listen[600], away[600];
    snprintf (outbox, sizeof outbox, "%s/outbox", mnt);
    snprintf (key, sizeof key, "%s/bj-remote-01.key", dir);
    snprintf (listen, sizeof listen, "ipc://%s/agent.sock", dir);
    snprintf (away, sizeof away, "ipc://%s/away.sock", dir);
    const char *agent_args[] = {
        "--site",   "bj-remote-01", "--key",        key,  "--hub",    away,
        "--outbox", outbox,         "--outbox-map", "64", "--listen", listen,
        NULL};
    ih_proc_t *agent = ih_tk_agent_start_args (dir, agent_args, NULL);
    dealer = zsock_new_dealer (listen);
    zsock_set_rcvtimeo (dealer, 10000);
    uint64_t confirmed = 0;
    while (true) {
        char *json = zsys_sprintf ("{\"note\":\"%s\"}", s_filler);
        json_t *object = json_loads (json, 0, NULL);
        zstr_free (&json);
        uint8_t *payload;
        size_t payload_size;
        IH_CHECK (ih_json_to_msgpack (object, &payload, &payload_size) == IH_OK,
                  "pack");
        json_decref (object);
        zmsg_t *msg =
            ih_wire_publish ("statistics.filed", payload, payload_size);
        free (payload);
        zmsg_send (&msg, dealer);
        zmsg_t *reply = zmsg_recv (dealer);
        ih_wire_t wire;
        IH_CHECK (reply && ih_wire_decode (reply, &wire) == IH_OK,
                  "no answer from the agent");
        bool full = wire.kind == IH_WIRE_NAK;
        IH_CHECK (!full || wire.code == IH_E_FULL,
                  "outbox disk full answered %s (%s)", ih_err_name (wire.code),
                  wire.reason);
        zmsg_destroy (&reply);
        if (full)
            break;
        IH_CHECK (++confirmed < 2000, "a 3 MiB file system never filled");
    }
    zsock_destroy (&dealer);
    IH_CHECK (ih_proc_alive (agent), "agent died on a full disk");
    //  Space comes back and the hub appears: everything confirmed arrives.
    unlink (filler);
    const char *hub_args[] = {
        "--data",      data,           "--registry",
        registry,      "--bureau-key", ih_tk_bureau_pub (registry),
        "--plaintext", "--ingest",     away,
        "--pub",       "inproc://y",   NULL};
    snprintf (data, sizeof data, "%s/data-agent", dir);
    hub = ih_proc_start (dir, "incuhubd", hub_args);
    char *line = ih_proc_wait_line (hub, "incuhubd: ready", 20000);
    IH_CHECK (line, "hub not ready");
    free (line);
    zhashx_t *counts = NULL;
    int64_t deadline = ih_tk_now () + 30000;
    uint64_t *last = NULL;
    while (!last || *last < confirmed) {
        IH_CHECK (ih_tk_now () < deadline,
                  "the agent's confirmed events did not all arrive");
        zhashx_destroy (&counts);
        ih_tk_log_check (data, &counts);
        last = (uint64_t *) zhashx_lookup (counts, "bj-remote-01");
    }
    zhashx_destroy (&counts);
    ih_tk_stop (&agent, "agent");
    ih_tk_stop (&hub, "hub");
    IH_CHECK (ih_tk_audit (dir, data, registry, NULL, NULL) == 0,
              "audit of %s failed", data);
    printf ("outbox disk full: %" PRIu64 " events confirmed, IH_E_FULL when "
            "full, all delivered once space and the hub came back\n",
            confirmed);
    ih_tk_site_fini (&remote);
    IH_CHECK (umount (mnt) == 0, "umount %s: %s", mnt, strerror (errno));
    ih_tk_site_fini (&site);
    ih_tk_site_fini (&grower);
    ih_tk_site_fini (&disk);
    ih_tk_cleanup ();
    printf ("it_storage_full: OK\n");
    return 0;
}
