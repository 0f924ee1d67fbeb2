/*  =========================================================================
    it_security - CURVE transport, per-kind permissions and the registry in
    the log, against a real incuhubd on tcp://127.0.0.1 (issue 4)

    One hub runs with CURVE on (its --key, the kit's bureau pinned with
    --bureau-key) and the bureau's journal as --registry. The test then
    checks, each by what the hub answers or what a handshake reports
    (monitor events on the client socket, waited for with a deadline):
    - a registered site connects, its events are ACKed; a client whose
      transport key is not registered, a client with a wrong hub key and a
      plain-text client all fail the handshake; an auditor may not connect
      to ingest;
    - a type outside the kind's permissions is NAKed IH_E_DENIED, an event
      for another site's id IH_E_IMPERSONATE, a registry change from a
      non-bureau site IH_E_DENIED, one signed by a forged bureau key
      IH_E_BADSIG; none of them is stored;
    - a key rotation mid-stream: old-key events below from_seq and new-key
      events from it are all ACKed, an old-key event at from_seq is
      BADSIG, the old transport key can no longer connect;
    - a revocation: the site's next event is IH_E_REVOKED, its key can no
      longer connect;
    - the feed: an incubator's subscription to everything is not applied
      (its first message is its own event, not the one published before
      it), a district office gets the city-wide feed;
    - replay: an incubator asking for everything is NAKed IH_E_DENIED, for
      its own events is served; an auditor audits the whole log remotely
      over CURVE;
    - an agent with --hub-key forwards over CURVE; its site's key is then
      rotated the way docs/security.md says: events signed with the old
      key wait in its outbox, the agent restarts with the new key (refused
      by ZAP until the rotation), its ready line gives from_seq, the
      bureau rotates, and all old-key and new-key events are stored;
    - a revoked site's open feed subscription is dropped (the feed is
      reopened) and its reconnection refused;
    - `incuhub tail --replay` started for a site that is not registered
      yet is refused (and says so on stderr), dials again by itself once
      the bureau registers the site, prints the site's event and exits 0;
    - after the hub stops, `incuhub audit --bureau-key` passes, and fails
      naming IH_E_REVOKED once an event of the revoked key is slipped into
      a copy of the log;
    - incuhubd refuses to start without --key unless --plaintext, and
      refuses --plaintext on a non-loopback endpoint.
    =========================================================================*/
#include "ih_testkit.h"
#include <jansson.h>
#include "ih_curve.h"

#define S_DEADLINE 10000

static const char *s_dir;
static char s_registry[512];
static char s_data[512];
static char s_hub_pub[700];
static ih_key_t *s_hub_key; //  the hub's public key (as clients hold it)
static char s_ingest[256], s_pub[256], s_replay[256];

//  ---------------------------------------------------------------------
//  A client socket with a monitor on its handshakes

typedef struct {
    zsock_t *sock;
    zsock_t *monitor; //  PAIR receiving the socket's monitor events
} s_client_t;

static s_client_t
s_client (int type, const char *endpoint, ih_key_t *own, ih_key_t *hub)
{
    static int counter = 0;
    s_client_t self;
    self.sock = zsock_new (type);
    IH_CHECK (self.sock, "zsock_new");
    if (own && hub)
        IH_CHECK (ih_curve_client (self.sock, own, hub) == IH_OK,
                  "ih_curve_client");
    char monitor[64];
    snprintf (monitor, sizeof monitor, "inproc://it-security-mon-%d",
              counter++);
    IH_CHECK (zmq_socket_monitor (zsock_resolve (self.sock), monitor,
                                  ZMQ_EVENT_ALL) == 0,
              "zmq_socket_monitor");
    self.monitor = zsock_new (ZMQ_PAIR);
    IH_CHECK (zsock_connect (self.monitor, "%s", monitor) == 0, "monitor");
    IH_CHECK (zsock_connect (self.sock, "%s", endpoint) == 0, "connect %s",
              endpoint);
    return self;
}

static void
s_client_destroy (s_client_t *self)
{
    zmq_socket_monitor (zsock_resolve (self->sock), NULL, 0);
    zsock_destroy (&self->monitor);
    zsock_destroy (&self->sock);
}

//  Waits up to 100 ms for the next monitor event on the client's socket;
//  returns its number (ZMQ_EVENT_*), or 0 if none came.
static uint16_t
s_monitor_event (s_client_t *self)
{
    zsock_set_rcvtimeo (self->monitor, 100);
    zmsg_t *msg = zmsg_recv (self->monitor);
    if (!msg)
        return 0;
    zframe_t *frame = zmsg_first (msg);
    uint16_t event = 0;
    if (frame && zframe_size (frame) >= 2)
        memcpy (&event, zframe_data (frame), 2);
    zmsg_destroy (&msg);
    return event;
}

//  Waits for the handshake's outcome: 1 succeeded, -1 failed (a
//  HANDSHAKE_FAILED_* event, or the peer closed before any success).
//  Fails the test at the deadline.
static int
s_handshake (s_client_t *self)
{
    int64_t deadline = ih_tk_now () + S_DEADLINE;
    while (ih_tk_now () < deadline) {
        uint16_t event = s_monitor_event (self);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            return 1;
        if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL ||
            event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL ||
            event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH ||
            event == ZMQ_EVENT_DISCONNECTED)
            return -1;
    }
    IH_CHECK (false, "no handshake outcome within %d ms", S_DEADLINE);
    return 0;
}

//  Waits (deadline) for one monitor event on the client's socket.
static void
s_wait_event (s_client_t *self, uint16_t wanted, const char *what)
{
    int64_t deadline = ih_tk_now () + S_DEADLINE;
    while (ih_tk_now () < deadline) {
        if (s_monitor_event (self) == wanted) {
            printf ("  %s\n", what);
            return;
        }
    }
    IH_CHECK (false, "%s: no such event within %d ms", what, S_DEADLINE);
}

//  Sends request on client and checks the answer is NAK IH_E_DENIED.
static void
s_expect_denied (s_client_t *client, zmsg_t *request, const char *what)
{
    IH_CHECK (zmsg_send (&request, client->sock) == 0, "send");
    zsock_set_rcvtimeo (client->sock, S_DEADLINE);
    zmsg_t *reply = zmsg_recv (client->sock);
    ih_wire_t wire;
    IH_CHECK (reply && ih_wire_decode (reply, &wire) == IH_OK &&
                  wire.kind == IH_WIRE_NAK && wire.code == IH_E_DENIED,
              "%s: not denied", what);
    printf ("  %s: NAK %s (%s)\n", what, ih_err_name (wire.code), wire.reason);
    zmsg_destroy (&reply);
}

//  Sends one signed event and waits for the answer (ACK or NAK) into
//  *wire; returns the message (caller destroys).
static zmsg_t *
s_send (s_client_t *client, uint8_t *bytes, size_t size, ih_wire_t *wire)
{
    zmsg_t *request = ih_wire_event (bytes, size);
    IH_CHECK (zmsg_send (&request, client->sock) == 0, "send");
    zsock_set_rcvtimeo (client->sock, S_DEADLINE);
    zmsg_t *reply = zmsg_recv (client->sock);
    IH_CHECK (reply, "no answer to an event within %d ms", S_DEADLINE);
    IH_CHECK (ih_wire_decode (reply, wire) == IH_OK, "undecodable answer");
    return reply;
}

//  Sends an event and checks the answer is an ACK.
static void
s_expect_ack (s_client_t *client, uint8_t *bytes, size_t size, const char *what)
{
    ih_wire_t wire;
    zmsg_t *reply = s_send (client, bytes, size, &wire);
    IH_CHECK (wire.kind == IH_WIRE_ACK, "%s: expected ACK, got %s %s", what,
              wire.kind == IH_WIRE_NAK ? ih_err_name (wire.code) : "?",
              wire.kind == IH_WIRE_NAK ? wire.reason : "");
    zmsg_destroy (&reply);
    free (bytes);
}

//  Sends an event and checks the answer is a NAK with code.
static void
s_expect_nak (s_client_t *client, uint8_t *bytes, size_t size, ih_err_t code,
              const char *what)
{
    ih_wire_t wire;
    zmsg_t *reply = s_send (client, bytes, size, &wire);
    IH_CHECK (wire.kind == IH_WIRE_NAK && wire.code == code,
              "%s: expected NAK %s, got %s %s", what, ih_err_name (code),
              wire.kind == IH_WIRE_NAK ? ih_err_name (wire.code) : "an ACK",
              wire.kind == IH_WIRE_NAK ? wire.reason : "");
    printf ("  %s: NAK %s (%s)\n", what, ih_err_name (wire.code), wire.reason);
    zmsg_destroy (&reply);
    free (bytes);
}

//  A CURVE client of endpoint as own, after a successful handshake; who
//  names it if the handshake fails.
static s_client_t
s_connected (int type, const char *endpoint, ih_key_t *own, const char *who)
{
    s_client_t client = s_client (type, endpoint, own, s_hub_key);
    IH_CHECK (s_handshake (&client) == 1, "%s could not connect to %s", who,
              endpoint);
    return client;
}

//  A CURVE SUB to the feed as own, after a successful handshake,
//  subscribed to prefix ("" for everything its kind may read).
static s_client_t
s_subscriber (ih_key_t *own, const char *prefix, const char *who)
{
    s_client_t client = s_connected (ZMQ_SUB, s_pub, own, who);
    zsock_set_subscribe (client.sock, prefix);
    return client;
}

//  A CURVE DEALER to ingest as site, after a successful handshake.
static s_client_t
s_ingest_client (ih_tk_site_t *site)
{
    return s_connected (ZMQ_DEALER, s_ingest, site->key, site->site);
}

//  A CURVE DEALER to ingest as the bureau, after a successful handshake.
static s_client_t
s_bureau_client (void)
{
    ih_key_t *bureau = ih_tk_bureau (s_registry);
    //  The socket holds its own copy of the transport pair
    s_client_t client = s_connected (ZMQ_DEALER, s_ingest, bureau, "bureau");
    ih_key_destroy (&bureau);
    return client;
}

//  Checks that a DEALER to ingest as own (plain text if NULL), trusting
//  hub as the hub's key, fails the handshake; failure says what passed.
static void
s_expect_refused (ih_key_t *own, ih_key_t *hub, const char *failure)
{
    s_client_t client = s_client (ZMQ_DEALER, s_ingest, own, hub);
    IH_CHECK (s_handshake (&client) == -1, "%s", failure);
    s_client_destroy (&client);
}

//  Pushes a registry change straight to the hub as the bureau (as
//  `incuhub site ... --hub` does) and expects an ACK.
static void
s_registry_push (const ih_regchange_t *change)
{
    uint8_t *bytes;
    size_t size;
    ih_tk_registry_change (s_registry, change, &bytes, &size);
    s_client_t client = s_bureau_client ();
    s_expect_ack (&client, bytes, size, "registry change");
    s_client_destroy (&client);
}

//  Starts the CURVE hub; reads its endpoints.
static ih_proc_t *
s_hub_start (const char *hub_key_path)
{
    const char *args[] = {"--data",
                          s_data,
                          "--registry",
                          s_registry,
                          "--bureau-key",
                          ih_tk_bureau_pub (s_registry),
                          "--key",
                          hub_key_path,
                          "--ingest",
                          "tcp://127.0.0.1:*",
                          "--pub",
                          "tcp://127.0.0.1:*",
                          "--replay",
                          "tcp://127.0.0.1:*",
                          NULL};
    ih_proc_t *hub = ih_proc_start (s_dir, "incuhubd", args);
    char *line = ih_proc_wait_line (hub, "incuhubd: ready", 20000);
    IH_CHECK (line, "hub not ready (see %s)", ih_proc_stderr (hub));
    char *value;
    value = ih_tk_field (line, "ingest");
    snprintf (s_ingest, sizeof s_ingest, "%s", value);
    free (value);
    value = ih_tk_field (line, "pub");
    snprintf (s_pub, sizeof s_pub, "%s", value);
    free (value);
    value = ih_tk_field (line, "replay");
    IH_CHECK (value, "no replay= in '%s'", line);
    snprintf (s_replay, sizeof s_replay, "%s", value);
    free (value);
    free (line);
    return hub;
}

//  Receives the next feed message on sub (deadline) and checks that it is
//  an event of site.
static void
s_feed_expect (zsock_t *sub, const char *who, const char *site)
{
    zsock_set_rcvtimeo (sub, S_DEADLINE);
    zmsg_t *msg = zmsg_recv (sub);
    IH_CHECK (msg, "%s: nothing on the feed within %d ms", who, S_DEADLINE);
    ih_wire_t wire;
    IH_CHECK (ih_wire_decode_pub (msg, &wire) == IH_OK, "%s: bad PUB", who);
    IH_CHECK (streq (wire.site, site),
              "%s: the feed carried %s's event, not %s's", who, wire.site,
              site);
    zmsg_destroy (&msg);
}

//  Receives and drops whatever sub holds now (it has a short receive
//  timeout); true if there was anything.
static bool
s_feed_drain (zsock_t *sub)
{
    bool any = false;
    zmsg_t *msg;
    while ((msg = zmsg_recv (sub))) {
        any = true;
        zmsg_destroy (&msg);
    }
    return any;
}

//  Publishes site's events on client until both subscribers have received
//  something (deadline 20 s): until then their subscriptions may not be
//  applied yet. failure says what never happened.
static void
s_feed_warm_up (s_client_t *client, ih_tk_site_t *site, zsock_t *first,
                zsock_t *second, const char *failure)
{
    bool first_ok = false, second_ok = false;
    int64_t deadline = ih_tk_now () + 20000;
    zsock_set_rcvtimeo (first, 100);
    zsock_set_rcvtimeo (second, 100);
    while (!(first_ok && second_ok)) {
        IH_CHECK (ih_tk_now () < deadline, "%s", failure);
        size_t size;
        uint8_t *bytes = ih_tk_site_sign (site, "training.held", "{}", &size);
        s_expect_ack (client, bytes, size, "warm-up");
        first_ok |= s_feed_drain (first);
        second_ok |= s_feed_drain (second);
    }
}

//  Once own_sub and city_sub both receive (warmed up with own's events on
//  client), publishes an event of offshore (on a connection of its own),
//  then one of own's: own_sub, which may read only own's events, must get
//  own's next, and city_sub, which reads everything, offshore's.
static void
s_feed_check (s_client_t *client, ih_tk_site_t *own, ih_tk_site_t *offshore,
              zsock_t *own_sub, zsock_t *city_sub, const char *warm_failure)
{
    s_feed_warm_up (client, own, own_sub, city_sub, warm_failure);
    size_t size;
    s_client_t off = s_ingest_client (offshore);
    uint8_t *bytes =
        ih_tk_site_sign (offshore, "offshore.project_introduced", "{}", &size);
    s_expect_ack (&off, bytes, size, "offshore event");
    s_client_destroy (&off);
    bytes = ih_tk_site_sign (own, "training.held", "{}", &size);
    s_expect_ack (client, bytes, size, "own event");
    s_feed_expect (own_sub, own->site, own->site);
    s_feed_expect (city_sub, "district", offshore->site);
}

//  Runs incuhub; returns its exit status, stdout and stderr in *out_p,
//  *err_p.
static int
s_cli (const char *const *args, char **out_p, char **err_p)
{
    return ih_tk_run (s_dir, "incuhub", args, NULL, out_p, err_p, 60000);
}

//  Starts incuhub-agent with args and waits for its ready line; checks
//  that the line announces next_seq, unless that is NULL.
static ih_proc_t *
s_agent_start (const char *const *args, const char *next_seq)
{
    char *line;
    ih_proc_t *agent = ih_tk_agent_start_args (s_dir, args, &line);
    if (next_seq) {
        char *next = ih_tk_field (line, "next_seq");
        IH_CHECK (next && streq (next, next_seq), "next_seq '%s' in '%s'",
                  next ? next : "", line);
        free (next);
    }
    free (line);
    return agent;
}

//  Registers site, whose key ih_tk_site_init made without a registry, as
//  kind: a registry.site_added in the journal, which the hub reads within
//  a second or so.
static void
s_site_register (ih_tk_site_t *site, const char *kind)
{
    ih_regchange_t change;
    memset (&change, 0, sizeof change);
    change.op = IH_REG_OP_SITE_ADDED;
    snprintf (change.site, sizeof change.site, "%s", site->site);
    snprintf (change.kind, sizeof change.kind, "%s", kind);
    snprintf (change.district, sizeof change.district, "%s", site->district);
    memcpy (change.sign_key, ih_key_public (site->key), IH_KEY_PUBLIC_SIZE);
    memcpy (change.curve_key, ih_key_curve_public (site->key),
            IH_KEY_CURVE_SIZE);
    ih_tk_registry_change (s_registry, &change, NULL, NULL);
}

//  True if the file at path holds text.
static bool
s_file_has (const char *path, const char *text)
{
    FILE *file = fopen (path, "r");
    if (!file)
        return false;
    bool found = false;
    char line[4096];
    while (!found && fgets (line, sizeof line, file))
        found = strstr (line, text) != NULL;
    fclose (file);
    return found;
}

//  Waits up to timeout ms until a line of proc's stderr holds text; what
//  says what that means.
static void
s_wait_stderr (ih_proc_t *proc, const char *text, int timeout, const char *what)
{
    int64_t deadline = ih_tk_now () + timeout;
    while (!s_file_has (ih_proc_stderr (proc), text)) {
        IH_CHECK (ih_tk_now () < deadline && ih_proc_alive (proc),
                  "%s: no '%s' in %s within %d ms", what, text,
                  ih_proc_stderr (proc), timeout);
        zclock_sleep (50); //  poll at 20 Hz, deadline above
    }
    printf ("  %s\n", what);
}

//  Publishes the JSON line count times, one `incuhub publish` each,
//  through the agent listening on listen.
static void
s_agent_publish (const char *listen, const char *line, int count,
                 const char *what)
{
    const char *args[] = {"publish", "--agent", listen, NULL};
    for (int i = 0; i < count; i++)
        IH_CHECK (ih_tk_run (s_dir, "incuhub", args, line, NULL, NULL, 20000) ==
                      0,
                  "%s", what);
}

int
main (void)
{
    setvbuf (stdout, NULL, _IOLBF, 0);
    s_dir = ih_tk_tempdir ();
    snprintf (s_registry, sizeof s_registry, "%s/bureau.journal", s_dir);
    snprintf (s_data, sizeof s_data, "%s/data", s_dir);

    //  --- The hub refuses insecure configurations -----------------------
    {
        ih_key_t *bureau = ih_tk_bureau (s_registry); //  creates the key
        ih_key_destroy (&bureau);
        const char *no_key[] = {"--data",
                                s_data,
                                "--bureau-key",
                                ih_tk_bureau_pub (s_registry),
                                "--ingest",
                                "tcp://127.0.0.1:*",
                                "--pub",
                                "tcp://127.0.0.1:*",
                                NULL};
        char *err = NULL;
        int rc = ih_tk_run (s_dir, "incuhubd", no_key, NULL, NULL, &err, 20000);
        IH_CHECK (rc == 2 && err && strstr (err, "--key"),
                  "a hub without --key and without --plaintext: exit %d, "
                  "stderr '%s'",
                  rc, err ? err : "");
        printf ("no key: %s", err);
        free (err);
        const char *open_plain[] = {"--data",
                                    s_data,
                                    "--bureau-key",
                                    ih_tk_bureau_pub (s_registry),
                                    "--plaintext",
                                    "--ingest",
                                    "tcp://0.0.0.0:*",
                                    "--pub",
                                    "tcp://127.0.0.1:*",
                                    NULL};
        err = NULL;
        rc = ih_tk_run (s_dir, "incuhubd", open_plain, NULL, NULL, &err, 20000);
        IH_CHECK (rc == 2 && err && strstr (err, "tcp://0.0.0.0:*"),
                  "plain text on 0.0.0.0: exit %d, stderr '%s'", rc,
                  err ? err : "");
        printf ("plain text, not local: %s", err);
        free (err);
    }

    //  --- Sites, keys, the hub ------------------------------------------
    ih_tk_site_t inc, victim, district, offshore, auditor;
    ih_tk_site_init (&inc, s_dir, s_registry, "lh-inc-01", "incubator",
                     "laoshan");
    ih_tk_site_init (&victim, s_dir, s_registry, "lh-inc-02", "incubator",
                     "laoshan");
    ih_tk_site_init (&district, s_dir, s_registry, "shinan-district",
                     "district", "shinan");
    ih_tk_site_init (&offshore, s_dir, s_registry, "sg-offshore-01", "offshore",
                     "laoshan");
    ih_tk_site_init (&auditor, s_dir, s_registry, "city-audit", "auditor",
                     "city");
    //  The incubator kind back to its documented default permissions (the
    //  kit grants "*" for reliability tests)
    {
        ih_regchange_t change;
        memset (&change, 0, sizeof change);
        change.op = IH_REG_OP_PERMISSIONS;
        snprintf (change.kind, sizeof change.kind, "incubator");
        const char *patterns[] = {"enterprise.*", "startup.*",   "financing.*",
                                  "training.*",   "qianfan.*",   "mentor.*",
                                  "voucher.*",    "statistics.*"};
        change.publish_count = 8;
        for (int i = 0; i < 8; i++)
            snprintf (change.publish[i], sizeof change.publish[i], "%s",
                      patterns[i]);
        change.read = IH_READ_OWN;
        ih_tk_registry_change (s_registry, &change, NULL, NULL);
        //  ... and the district kind too
        snprintf (change.kind, sizeof change.kind, "district");
        const char *district_patterns[] = {"district.*", "training.*",
                                           "qianfan.*", "mentor.*",
                                           "statistics.*"};
        change.publish_count = 5;
        for (int i = 0; i < 5; i++)
            snprintf (change.publish[i], sizeof change.publish[i], "%s",
                      district_patterns[i]);
        change.read = IH_READ_ALL;
        ih_tk_registry_change (s_registry, &change, NULL, NULL);
    }
    char keys[512];
    snprintf (keys, sizeof keys, "%s/hubkeys", s_dir);
    IH_CHECK (zsys_dir_create ("%s", keys) == 0, "mkdir");
    ih_key_t *hub_secret = ih_key_new ("hub");
    IH_CHECK (ih_key_save (hub_secret, keys) == IH_OK, "save hub key");
    ih_key_destroy (&hub_secret);
    char hub_key_path[600];
    snprintf (hub_key_path, sizeof hub_key_path, "%s/hub.key", keys);
    snprintf (s_hub_pub, sizeof s_hub_pub, "%s/hub.pub", keys);
    IH_CHECK (ih_key_load (s_hub_pub, &s_hub_key) == IH_OK, "load hub.pub");
    ih_proc_t *hub = s_hub_start (hub_key_path);
    printf ("hub: ingest=%s pub=%s replay=%s\n", s_ingest, s_pub, s_replay);

    //  --- Who may connect -----------------------------------------------
    size_t size;
    uint8_t *bytes;
    s_client_t client = s_ingest_client (&inc);
    bytes = ih_tk_site_sign (&inc, "enterprise.admitted",
                             "{\"enterprise\":\"e-1\"}", &size);
    s_expect_ack (&client, bytes, size, "registered incubator over CURVE");
    {
        //  A key the registry does not know
        ih_key_t *stranger = ih_key_new ("lh-inc-01");
        s_expect_refused (
            stranger, s_hub_key,
            "an unregistered transport key completed the handshake");
        //  The right site key, but a wrong hub key
        ih_key_t *fake_hub = ih_key_new ("hub");
        s_expect_refused (
            inc.key, fake_hub,
            "a client with a wrong hub key completed the handshake");
        //  Plain text to a CURVE endpoint
        s_expect_refused (NULL, NULL,
                          "a plain-text client completed the handshake");
        //  An auditor is read-only: no ingest
        s_expect_refused (auditor.key, s_hub_key,
                          "an auditor connected to ingest");
        ih_key_destroy (&stranger);
        ih_key_destroy (&fake_hub);
        printf ("handshakes: registered ok; unregistered, wrong hub key, "
                "plain text, auditor on ingest refused\n");
    }

    //  STATUS lists every site: not for an incubator
    s_expect_denied (&client, ih_wire_status_request (),
                     "STATUS asked by an incubator");

    //  --- Who may publish what ------------------------------------------
    //  A refused event leaves the chain where it was: remember the head
    uint64_t inc_seq = inc.seq;
    uint8_t inc_prev[IH_HASH_SIZE];
    memcpy (inc_prev, inc.prev, IH_HASH_SIZE);
    bytes = ih_tk_site_sign (&inc, "award.granted", "{\"amount\":1}", &size);
    s_expect_nak (&client, bytes, size, IH_E_DENIED,
                  "incubator publishes an award");
    inc.seq = inc_seq;
    memcpy (inc.prev, inc_prev, IH_HASH_SIZE);
    {
        //  A district office posing as an incubator: it reports an
        //  enterprise admitted, under its own id (the only one its
        //  connection allows)
        s_client_t office = s_ingest_client (&district);
        ih_tk_site_t copy = district;
        bytes = ih_tk_site_sign (&copy, "enterprise.admitted",
                                 "{\"enterprise\":\"e-9\"}", &size);
        s_expect_nak (&office, bytes, size, IH_E_DENIED,
                      "district office reports an enterprise admitted");
        s_client_destroy (&office);
    }
    {
        //  lh-inc-02's own, validly signed event, sent on lh-inc-01's
        //  connection
        ih_tk_site_t copy = victim;
        bytes = ih_tk_site_sign (&copy, "enterprise.admitted", "{}", &size);
        s_expect_nak (&client, bytes, size, IH_E_IMPERSONATE,
                      "event for another site's id");
    }
    {
        ih_regchange_t change;
        memset (&change, 0, sizeof change);
        change.op = IH_REG_OP_KEY_REVOKED;
        snprintf (change.site, sizeof change.site, "lh-inc-02");
        char *json = ih_regchange_json (&change);
        bytes = ih_tk_site_sign (&inc, IH_REG_KEY_REVOKED, json, &size);
        free (json);
        s_expect_nak (&client, bytes, size, IH_E_DENIED,
                      "registry change from an incubator");
        inc.seq = inc_seq;
        memcpy (inc.prev, inc_prev, IH_HASH_SIZE);
    }
    {
        //  A registry change that claims to be the bureau's, signed by
        //  another key, sent on the bureau's own (authenticated) connection
        s_client_t as_bureau = s_bureau_client ();
        //  A real change first (the remote kind gets its defaults back),
        //  whose hash is the chain head the forger continues
        ih_regchange_t change;
        memset (&change, 0, sizeof change);
        change.op = IH_REG_OP_PERMISSIONS;
        snprintf (change.kind, sizeof change.kind, "remote");
        change.publish_count = 1;
        snprintf (change.publish[0], sizeof change.publish[0], "remote.*");
        change.read = IH_READ_OWN;
        uint8_t *real;
        size_t real_size;
        ih_tk_registry_change (s_registry, &change, &real, &real_size);
        ih_tk_site_t forger;
        memset (&forger, 0, sizeof forger);
        forger.key = ih_key_new (IH_TK_BUREAU);
        snprintf (forger.site, sizeof forger.site, "%s", IH_TK_BUREAU);
        ih_event_t head;
        IH_CHECK (ih_event_decode (real, real_size, &head) == IH_OK, "decode");
        forger.seq = head.seq;
        ih_event_hash (real, real_size, forger.prev);
        s_expect_ack (&as_bureau, real, real_size, "the bureau's change");
        //  The forged one: incubators may publish anything
        snprintf (change.kind, sizeof change.kind, "incubator");
        snprintf (change.publish[0], sizeof change.publish[0], "*");
        char *json = ih_regchange_json (&change);
        bytes = ih_tk_site_sign (&forger, IH_REG_PERMISSIONS, json, &size);
        free (json);
        s_expect_nak (&as_bureau, bytes, size, IH_E_BADSIG,
                      "registry change signed by a forged bureau key");
        s_client_destroy (&as_bureau);
        ih_key_destroy (&forger.key);
        //  ... so incubators still may not publish awards
        bytes = ih_tk_site_sign (&inc, "award.granted", "{}", &size);
        s_expect_nak (&client, bytes, size, IH_E_DENIED,
                      "award after the forged permission change");
        inc.seq = inc_seq;
        memcpy (inc.prev, inc_prev, IH_HASH_SIZE);
    }

    //  --- Key rotation mid-stream ---------------------------------------
    enum { S_OLD = 20, S_BEFORE = 10, S_NEW = 10 };
    s_client_t victim_client = s_ingest_client (&victim);
    uint8_t *old_events[S_OLD];
    size_t old_sizes[S_OLD];
    for (int i = 0; i < S_OLD; i++)
        old_events[i] = ih_tk_site_sign (&victim, "enterprise.admitted",
                                         "{\"key\":\"old\"}", &old_sizes[i]);
    for (int i = 0; i < S_BEFORE; i++)
        s_expect_ack (&victim_client, old_events[i], old_sizes[i],
                      "old key, before the rotation");
    //  The agent's outbox still holds old-key events 11..20; the new key
    //  signs from 21 on.
    char rotated[600];
    snprintf (rotated, sizeof rotated, "%s/rotated", s_dir);
    IH_CHECK (zsys_dir_create ("%s", rotated) == 0, "mkdir");
    uint8_t *rotation;
    size_t rotation_size;
    {
        ih_tk_site_rotate (&victim, rotated, s_registry);
        //  ih_tk_site_rotate wrote the change to the journal; push it as
        //  `incuhub site rotate --hub` does: it is the journal's last line
        s_client_t as_bureau = s_bureau_client ();
        IH_CHECK (ih_tk_journal_last (s_registry, &rotation, &rotation_size),
                  "no journal");
        s_expect_ack (&as_bureau, rotation, rotation_size, "rotation");
        s_client_destroy (&as_bureau);
    }
    for (int i = S_BEFORE; i < S_OLD; i++)
        s_expect_ack (&victim_client, old_events[i], old_sizes[i],
                      "old key, below from_seq, after the rotation");
    ih_key_t *old_key = NULL;
    {
        char path[600];
        snprintf (path, sizeof path, "%s/lh-inc-02.key", s_dir);
        IH_CHECK (ih_key_load (path, &old_key) == IH_OK, "old key");
        ih_tk_site_t stale = victim;
        stale.key = old_key;
        bytes = ih_tk_site_sign (&stale, "enterprise.admitted", "{}", &size);
        s_expect_nak (&victim_client, bytes, size, IH_E_BADSIG,
                      "old key at from_seq");
    }
    for (int i = 0; i < S_NEW; i++) {
        bytes = ih_tk_site_sign (&victim, "enterprise.admitted",
                                 "{\"key\":\"new\"}", &size);
        s_expect_ack (&victim_client, bytes, size, "new key");
    }
    {
        s_expect_refused (old_key, s_hub_key,
                          "the replaced transport key still connects");
        s_client_t other = s_ingest_client (&victim);
        s_client_destroy (&other);
    }
    printf ("rotation: %d old-key and %d new-key events stored\n", S_OLD,
            S_NEW);

    //  --- Revocation ------------------------------------------------------
    //  The victim follows its own feed; the revocation must end that too
    s_client_t victim_sub =
        s_subscriber (victim.key, "laoshan/lh-inc-02/", "victim's feed");
    {
        ih_regchange_t change;
        memset (&change, 0, sizeof change);
        change.op = IH_REG_OP_KEY_REVOKED;
        snprintf (change.site, sizeof change.site, "lh-inc-02");
        snprintf (change.reason, sizeof change.reason, "laptop stolen");
        s_registry_push (&change);
    }
    uint64_t victim_seq = victim.seq;
    uint8_t victim_prev[IH_HASH_SIZE];
    memcpy (victim_prev, victim.prev, IH_HASH_SIZE);
    bytes = ih_tk_site_sign (&victim, "enterprise.admitted", "{}", &size);
    uint8_t *slipped = (uint8_t *) malloc (size);
    memcpy (slipped, bytes, size);
    size_t slipped_size = size;
    s_expect_nak (&victim_client, bytes, size, IH_E_REVOKED,
                  "event of a revoked key");
    {
        s_expect_refused (victim.key, s_hub_key,
                          "a revoked key still connects");
        //  The feed was reopened: the revoked subscriber was dropped, and
        //  its reconnection is refused
        s_wait_event (&victim_sub, ZMQ_EVENT_HANDSHAKE_FAILED_AUTH,
                      "the revoked subscriber's reconnection refused");
        s_client_destroy (&victim_sub);
    }
    s_client_destroy (&victim_client);

    //  --- The feed -------------------------------------------------------
    {
        s_client_t greedy = s_subscriber (inc.key, "", "incubator's feed");
        zsock_set_subscribe (greedy.sock, "laoshan/lh-inc-01/");
        s_client_t city = s_subscriber (district.key, "", "district's feed");
        s_feed_check (&client, &inc, &offshore, greedy.sock, city.sock,
                      "subscriptions never applied");
        //  ... and then the incubator's own
        s_feed_expect (city.sock, "district", "lh-inc-01");
        s_client_destroy (&greedy);
        s_client_destroy (&city);
        printf ("feed: incubator sees only its own events, district all\n");
    }
    {
        //  An XSUB can send the feed messages that are not subscriptions,
        //  which put libzmq's manual XPUB out of step: a subscription
        //  checked for one reader could land on another connection. The
        //  attacker (an incubator) interleaves junk with its own allowed
        //  subscription while a district office subscribes to everything;
        //  the hub reopens the feed and the attacker still gets nothing
        //  but its own events.
        s_client_t attacker =
            s_connected (ZMQ_XSUB, s_pub, inc.key, "attacker's XSUB");
        s_client_t city =
            s_connected (ZMQ_SUB, s_pub, district.key, "district's feed");
        zstr_send (attacker.sock, "junk");
        zsock_set_subscribe (city.sock, "");
        const char own[] = "\x01laoshan/lh-inc-01/";
        zmq_send (zsock_resolve (attacker.sock), own, sizeof own - 1, 0);
        zstr_send (attacker.sock, "more junk");
        //  The hub drops every feed connection: the district's closes
        s_wait_event (&city, ZMQ_EVENT_DISCONNECTED,
                      "the feed was reopened after the junk");
        //  Both reconnect and subscribe again (SUB and XSUB resend their
        //  subscriptions); warm up until both get the incubator's events
        s_feed_check (&client, &inc, &offshore, attacker.sock, city.sock,
                      "feed never came back");
        s_client_destroy (&attacker);
        s_client_destroy (&city);
        printf ("feed: an XSUB's junk reopens the feed; it still sees only "
                "its own events\n");
    }

    //  --- Replay ---------------------------------------------------------
    {
        s_client_t reader =
            s_connected (ZMQ_DEALER, s_replay, inc.key, "incubator's replay");
        s_expect_denied (&reader,
                         ih_wire_replay (1, 0, 0, NULL, NULL, NULL, 100),
                         "replay of everything by an incubator");
        s_expect_denied (&reader, ih_wire_checkpoint_request (0),
                         "a checkpoint asked by an incubator");
        zmsg_t *request =
            ih_wire_replay (1, 0, 0, "laoshan", "lh-inc-01", NULL, 1000);
        zmsg_t *reply;
        ih_wire_t wire;
        zmsg_send (&request, reader.sock);
        int records = 0;
        while (true) {
            reply = zmsg_recv (reader.sock);
            IH_CHECK (reply, "replay of its own events stalled");
            IH_CHECK (ih_wire_decode (reply, &wire) == IH_OK, "bad reply");
            zmsg_destroy (&reply);
            if (wire.kind == IH_WIRE_END)
                break;
            IH_CHECK (wire.kind == IH_WIRE_RECORD, "expected RECORD, got %d",
                      (int) wire.kind);
            records++;
        }
        IH_CHECK ((uint64_t) records == inc.seq,
                  "own replay gave %d records, the incubator stored %" PRIu64,
                  records, inc.seq);
        s_client_destroy (&reader);
        printf ("  replay of its own events: %d records\n", records);
    }
    {
        //  The auditor audits the live log over CURVE
        char auditor_key[600];
        snprintf (auditor_key, sizeof auditor_key, "%s/city-audit.key", s_dir);
        const char *args[] = {
            "audit",     "--hub",        s_replay,
            "--hub-key", s_hub_pub,      "--key",
            auditor_key, "--bureau-key", ih_tk_bureau_pub (s_registry),
            NULL};
        char *out = NULL, *err = NULL;
        int rc = s_cli (args, &out, &err);
        IH_CHECK (rc == 0, "remote audit over CURVE: exit %d\n%s\n%s", rc,
                  out ? out : "", err ? err : "");
        free (out);
        free (err);
        printf ("remote audit over CURVE by the auditor: pass\n");
    }

    //  --- An agent over CURVE -------------------------------------------
    {
        ih_tk_site_t remote;
        ih_tk_site_init (&remote, s_dir, s_registry, "bj-remote-01", "remote",
                         "laoshan");
        //  The hub meets the new site through the journal
        s_client_t city = s_subscriber (district.key, "laoshan/bj-remote-01/",
                                        "district's feed");
        char key[600], outbox[600], listen[600];
        snprintf (key, sizeof key, "%s/bj-remote-01.key", s_dir);
        snprintf (outbox, sizeof outbox, "%s/outbox", s_dir);
        snprintf (listen, sizeof listen, "ipc://%s/agent.sock", s_dir);
        const char *args[] = {
            "--site",   "bj-remote-01", "--key",   key,        "--hub",
            s_ingest,   "--hub-key",    s_hub_pub, "--outbox", outbox,
            "--listen", listen,         NULL};
        ih_proc_t *agent = s_agent_start (args, "1");
        const char *publish[] = {"publish",
                                 "--agent",
                                 listen,
                                 "--type",
                                 "remote.project_introduced",
                                 "--data",
                                 "{\"project\":\"p-1\"}",
                                 NULL};
        IH_CHECK (s_cli (publish, NULL, NULL) == 0, "publish via the agent");
        s_feed_expect (city.sock, "district (agent's event)", "bj-remote-01");
        s_client_destroy (&city);
        ih_tk_stop (&agent, "agent");
        printf ("agent over CURVE: event stored and published\n");

        //  Key rotation with an agent, events in its outbox: seqs 2..5
        //  are signed with the old key while the hub is out of reach ...
        char nowhere[600];
        snprintf (nowhere, sizeof nowhere, "ipc://%s/nowhere.sock", s_dir);
        args[5] = nowhere;
        agent = s_agent_start (args, NULL);
        s_agent_publish (listen,
                         "{\"type\":\"remote.project_introduced\","
                         "\"data\":{\"key\":\"old\"}}\n",
                         4, "publish into the outbox");
        ih_tk_stop (&agent, "agent");
        //  ... the agent restarts with a new key, which the hub does not
        //  know yet: its ready line tells the operator from_seq ...
        char newdir[600], newkey[700];
        snprintf (newdir, sizeof newdir, "%s/remote-new", s_dir);
        IH_CHECK (zsys_dir_create ("%s", newdir) == 0, "mkdir");
        ih_key_t *key2 = ih_key_new ("bj-remote-01");
        IH_CHECK (ih_key_save (key2, newdir) == IH_OK, "save new key");
        snprintf (newkey, sizeof newkey, "%s/bj-remote-01.key", newdir);
        args[3] = newkey;
        args[5] = s_ingest;
        agent = s_agent_start (args, "6");
        s_agent_publish (listen,
                         "{\"type\":\"remote.project_introduced\","
                         "\"data\":{\"key\":\"new\"}}\n",
                         5, "publish with the new key");
        //  ... and the bureau rotates from that seq
        ih_regchange_t change;
        memset (&change, 0, sizeof change);
        change.op = IH_REG_OP_KEY_ROTATED;
        snprintf (change.site, sizeof change.site, "bj-remote-01");
        memcpy (change.sign_key, ih_key_public (key2), IH_KEY_PUBLIC_SIZE);
        memcpy (change.curve_key, ih_key_curve_public (key2),
                IH_KEY_CURVE_SIZE);
        change.from_seq = 6;
        s_registry_push (&change);
        //  The agent reconnects by itself and delivers all nine
        int64_t deadline = ih_tk_now () + 30000;
        json_int_t acked = 0;
        while (acked < 10) {
            IH_CHECK (ih_tk_now () < deadline,
                      "agent acked %d of 10 after the rotation (see %s)",
                      (int) acked, ih_proc_stderr (agent));
            const char *status[] = {"status", "--agent", listen, NULL};
            char *out = NULL;
            IH_CHECK (s_cli (status, &out, NULL) == 0, "agent status");
            json_t *json = json_loads (out, 0, NULL);
            IH_CHECK (json, "status JSON: %s", out);
            acked = json_integer_value (json_object_get (json, "acked"));
            json_decref (json);
            free (out);
            if (acked < 10)
                zclock_sleep (50); //  poll at 20 Hz, deadline above
        }
        ih_tk_stop (&agent, "agent");
        ih_key_destroy (&key2);
        ih_tk_site_fini (&remote);
        printf ("agent key rotation: 4 old-key events from the outbox and 5 "
                "new-key events stored after the rotation\n");
    }

    //  --- A tail refused, then let in ----------------------------------
    {
        //  The site's key exists, the registry does not know it yet: the
        //  hub refuses tail's feed and replay handshakes, and libzmq never
        //  retries them; tail must dial again by itself
        ih_tk_site_t late;
        ih_tk_site_init (&late, s_dir, NULL, "lh-inc-03", "incubator",
                         "laoshan");
        char key[600];
        snprintf (key, sizeof key, "%s/lh-inc-03.key", s_dir);
        const char *args[] = {"tail",      "--hub",      s_pub,     "--replay",
                              s_replay,    "--hub-key",  s_hub_pub, "--key",
                              key,         "--count",    "1",       "--site",
                              "lh-inc-03", "--district", "laoshan", NULL};
        ih_proc_t *tail = ih_proc_start (s_dir, "incuhub", args);
        char feed[400], replay[400];
        snprintf (feed, sizeof feed, "handshake with the feed %s", s_pub);
        snprintf (replay, sizeof replay, "handshake with the replay service %s",
                  s_replay);
        char refused[500], accepted[500];
        snprintf (refused, sizeof refused, "%s failed event=", feed);
        s_wait_stderr (tail, refused, S_DEADLINE,
                       "tail's feed handshake refused, reported");
        snprintf (refused, sizeof refused, "%s failed event=", replay);
        s_wait_stderr (tail, refused, S_DEADLINE,
                       "tail's replay handshake refused, reported");
        //  The bureau registers the site: both sockets get through at
        //  their next dial (1 s after the first refusal, then 2 s, 4 s
        //  ... after each further one)
        s_site_register (&late, "incubator");
        snprintf (accepted, sizeof accepted, "%s succeeded", feed);
        s_wait_stderr (tail, accepted, 30000,
                       "tail's feed dialled again, handshake succeeded");
        snprintf (accepted, sizeof accepted, "%s succeeded", replay);
        s_wait_stderr (tail, accepted, 30000,
                       "tail's replay dialled again, handshake succeeded");
        //  The site publishes; tail prints its event and stops
        s_client_t late_client = s_ingest_client (&late);
        bytes =
            ih_tk_site_sign (&late, "training.held", "{\"late\":true}", &size);
        s_expect_ack (&late_client, bytes, size, "the late site's event");
        s_client_destroy (&late_client);
        char *line = ih_proc_wait_line (tail, "{\"hub_seq\":", 30000);
        IH_CHECK (line && strstr (line, "\"site\":\"lh-inc-03\""),
                  "tail printed no event of lh-inc-03 after its registration "
                  "(see %s): '%s'",
                  ih_proc_stderr (tail), line ? line : "");
        free (line);
        int rc = ih_proc_wait_exit (tail, S_DEADLINE);
        IH_CHECK (rc == 0, "tail --count 1: exit %d (see %s)", rc,
                  ih_proc_stderr (tail));
        ih_proc_destroy (&tail);
        ih_tk_site_fini (&late);
        printf ("tail refused until its site was registered: dialled again, "
                "printed the site's event, exit 0\n");
    }
    s_client_destroy (&client);

    //  --- Stop; what the log holds; the audit ----------------------------
    ih_proc_signal (hub, SIGTERM);
    IH_CHECK (ih_proc_wait_exit (hub, 20000) == 0, "hub did not stop");
    ih_proc_destroy (&hub);
    zhashx_t *counts = NULL;
    ih_tk_log_check (s_data, &counts);
    uint64_t *count = (uint64_t *) zhashx_lookup (counts, "lh-inc-01");
    IH_CHECK (count && *count == inc.seq,
              "lh-inc-01: %" PRIu64 " stored, %" PRIu64 " ACKed",
              count ? *count : 0, inc.seq);
    count = (uint64_t *) zhashx_lookup (counts, "bj-remote-01");
    IH_CHECK (count && *count == 10, "bj-remote-01: %" PRIu64 " stored of 10",
              count ? *count : 0);
    count = (uint64_t *) zhashx_lookup (counts, "lh-inc-03");
    IH_CHECK (count && *count == 1, "lh-inc-03: %" PRIu64 " stored of 1",
              count ? *count : 0);
    count = (uint64_t *) zhashx_lookup (counts, "lh-inc-02");
    IH_CHECK (count && *count == victim_seq,
              "lh-inc-02: %" PRIu64 " stored, %" PRIu64 " ACKed",
              count ? *count : 0, victim_seq);
    zhashx_destroy (&counts);

    const char *audit[] = {"audit",
                           "--data",
                           s_data,
                           "--bureau-key",
                           ih_tk_bureau_pub (s_registry),
                           NULL};
    char *out = NULL, *err = NULL;
    int rc = s_cli (audit, &out, &err);
    IH_CHECK (rc == 0, "audit after rotation and revocation: exit %d\n%s\n%s",
              rc, out ? out : "", err ? err : "");
    free (out);
    free (err);
    printf ("audit: pass (old-key and new-key events verify)\n");

    //  An event of the revoked key slipped into the log behind the hub's
    //  back
    {
        ih_log_t *log = ih_log_new (s_data, false, 0);
        IH_CHECK (log, "open log");
        ih_event_t event;
        IH_CHECK (ih_event_decode (slipped, slipped_size, &event) == IH_OK,
                  "decode");
        IH_CHECK (event.seq == victim_seq + 1 &&
                      memcmp (event.prev, victim_prev, IH_HASH_SIZE) == 0,
                  "slipped event does not extend the chain");
        uint64_t hub_seq = 0, expected = 0;
        IH_CHECK (ih_log_begin (log) == IH_OK, "begin");
        IH_CHECK (ih_log_append (log, &event, slipped, slipped_size,
                                 ih_event_now (), &hub_seq, &expected) == IH_OK,
                  "append");
        IH_CHECK (ih_log_commit (log) == IH_OK, "commit");
        ih_log_destroy (&log);
        out = err = NULL;
        rc = s_cli (audit, &out, &err);
        char where[64];
        snprintf (where, sizeof where, "%" PRIu64, hub_seq);
        IH_CHECK (rc == 3 && out && err &&
                      (strstr (out, "IH_E_REVOKED") ||
                       strstr (err, "IH_E_REVOKED")) &&
                      (strstr (out, where) || strstr (err, where)),
                  "audit of a log with a revoked key's event: exit %d\n%s\n%s",
                  rc, out ? out : "", err ? err : "");
        printf ("audit with a slipped-in event at hub_seq %s: fails, "
                "IH_E_REVOKED\n",
                where);
        free (out);
        free (err);
    }
    free (slipped);
    ih_key_destroy (&old_key);
    ih_key_destroy (&s_hub_key);
    ih_tk_site_fini (&inc);
    ih_tk_site_fini (&victim);
    ih_tk_site_fini (&district);
    ih_tk_site_fini (&offshore);
    ih_tk_site_fini (&auditor);
    (void) victim_seq;
    ih_tk_cleanup ();
    printf ("it_security: pass\n");
    return 0;
}
