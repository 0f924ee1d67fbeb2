/*  =========================================================================
    it_publish_restart - `incuhub publish` never prints a seq it was not
    given for that line, even when the agent restarts mid-stream

    `incuhub publish` streams many JSON lines (each payload carries its
    line number) from stdin to a real agent. Once the stream is under way
    the test SIGKILLs the agent and restarts it on the same outbox. Then it
    checks, against the hub's log after the agent drained, that every
    "seq=N line=L" the CLI printed names a stored event N whose payload
    is line L, that no line was printed twice, that the CLI exited 1 and
    named each request left without an answer ("line N: no answer"), and
    that none of those lines also got a seq= line. (If the CLI finished
    before the kill it must have exited 0 with every line confirmed.)
    =========================================================================*/
#include "ih_testkit.h"
#include "ih_json.h"

#define S_LINES 200000
#define S_KILL_AFTER 500 //  confirmed lines before the kill

static uint64_t s_stored_line[S_LINES * 2]; //  seq -> payload line (0 none)

static ih_proc_t *
s_agent_start (const char *dir, const char *key, const char *ingest,
               const char *outbox, const char *listen)
{
    const char *args[] = {
        "--site", "chengyang-inc-02", "--key", key, "--hub", ingest, "--outbox",
        outbox,   "--listen",         listen,  NULL};
    ih_proc_t *agent = ih_proc_start (dir, "incuhub-agent", args);
    char *line = ih_proc_wait_line (agent, "incuhub-agent: ready", 20000);
    IH_CHECK (line, "agent not ready (see %s)", ih_proc_stderr (agent));
    free (line);
    return agent;
}

static int
s_scan (uint64_t hub_seq, uint64_t received, const uint8_t *bytes, size_t size,
        void *arg)
{
    (void) hub_seq;
    (void) received;
    (void) arg;
    ih_event_t event;
    IH_CHECK (ih_event_decode (bytes, size, &event) == IH_OK, "decode");
    if (streq (event.site, IH_TK_BUREAU))
        return 0; //  the registry journal, stored first
    IH_CHECK (streq (event.site, "chengyang-inc-02"), "event of site %s",
              event.site);
    json_t *data;
    IH_CHECK (ih_json_from_msgpack (event.data, event.data_size, &data) ==
                  IH_OK,
              "data");
    json_int_t line = json_integer_value (json_object_get (data, "line"));
    json_decref (data);
    IH_CHECK (event.seq < S_LINES * 2 && line > 0, "odd event seq %" PRIu64,
              event.seq);
    s_stored_line[event.seq] = (uint64_t) line;
    return 0;
}

static char *
s_slurp (const char *path)
{
    FILE *file = fopen (path, "r");
    IH_CHECK (file, "cannot read %s", path);
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *text = (char *) zmalloc ((size_t) size + 1);
    IH_CHECK (fread (text, 1, (size_t) size, file) == (size_t) size, "read");
    fclose (file);
    return text;
}

int
main (void)
{
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256], key[512], outbox[512],
        listen[256], input[512];
    snprintf (data, sizeof data, "%s/data", dir);
    snprintf (registry, sizeof registry, "%s/registry.json", dir);
    snprintf (ingest, sizeof ingest, "ipc://%s/ingest.sock", dir);
    snprintf (pub, sizeof pub, "ipc://%s/pub.sock", dir);
    snprintf (key, sizeof key, "%s/chengyang-inc-02.key", dir);
    snprintf (outbox, sizeof outbox, "%s/outbox", dir);
    snprintf (listen, sizeof listen, "ipc://%s/agent.sock", dir);
    snprintf (input, sizeof input, "%s/events.jsonl", dir);
    ih_tk_site_t site;
    ih_tk_site_init (&site, dir, registry, "chengyang-inc-02", "incubator",
                     "chengyang");
    FILE *file = fopen (input, "w");
    IH_CHECK (file, "cannot write %s", input);
    for (int line = 1; line <= S_LINES; line++)
        fprintf (file, "{\"type\":\"training.held\",\"data\":{\"line\":%d}}\n",
                 line);
    fclose (file);

    ih_proc_t *hub =
        ih_tk_hub_start (dir, data, registry, ingest, pub, NULL, NULL);
    ih_proc_t *agent = s_agent_start (dir, key, ingest, outbox, listen);
    const char *args[] = {"publish",   "--agent", listen,
                          "--timeout", "5000",    NULL};
    ih_proc_t *cli = ih_proc_start_stdin (dir, "incuhub", args, input);

    //  Kill the agent once the stream is well under way
    char prefix[32];
    snprintf (prefix, sizeof prefix, "seq=%d ", S_KILL_AFTER);
    char *seen = ih_proc_wait_line (cli, prefix, 30000);
    IH_CHECK (seen, "publish never confirmed %d lines (see %s)", S_KILL_AFTER,
              ih_proc_stderr (cli));
    free (seen);
    bool mid_stream = ih_proc_alive (cli);
    ih_proc_signal (agent, SIGKILL);
    IH_CHECK (ih_proc_wait_exit (agent, 10000) == 128 + SIGKILL,
              "agent did not die of SIGKILL");
    ih_proc_destroy (&agent);
    agent = s_agent_start (dir, key, ingest, outbox, listen);
    int status = ih_proc_wait_exit (cli, 60000);
    IH_CHECK (status == 0 || status == 1, "publish exited %d (see %s)", status,
              ih_proc_stderr (cli));

    //  Let the agent drain, then read what the hub stored
    int64_t deadline = ih_tk_now () + 60000;
    json_int_t backlog = -1;
    while (backlog != 0) {
        IH_CHECK (ih_tk_now () < deadline, "agent does not drain: %lld",
                  (long long) backlog);
        zmsg_t *request = ih_wire_status_request ();
        ih_wire_t wire;
        zmsg_t *reply = ih_tk_request (listen, &request, &wire, 5000);
        IH_CHECK (reply, "no STATUS");
        json_t *json = json_loadb (wire.json, wire.json_size, 0, NULL);
        backlog = json_integer_value (json_object_get (json, "backlog"));
        json_decref (json);
        zmsg_destroy (&reply);
        if (backlog)
            zclock_sleep (20); //  polling interval of the condition
    }
    uint64_t stored = ih_tk_log_check (data, NULL);
    ih_log_t *log = ih_log_new (data, true, 0);
    IH_CHECK (log, "open log");
    IH_CHECK (ih_log_read (log, 1, 0, s_scan, NULL) == IH_OK, "read");
    ih_log_destroy (&log);

    //  Every seq= line the CLI printed is true
    uint8_t *printed = (uint8_t *) zmalloc (S_LINES + 1);
    char *out = s_slurp (ih_proc_stdout (cli));
    uint64_t confirmed = 0;
    for (char *text = strtok (out, "\n"); text; text = strtok (NULL, "\n")) {
        uint64_t seq, line;
        IH_CHECK (sscanf (text, "seq=%" SCNu64 " line=%" SCNu64, &seq, &line) ==
                      2,
                  "publish printed '%s'", text);
        IH_CHECK (line >= 1 && line <= S_LINES && !printed[line],
                  "line %" PRIu64 " printed twice or out of range", line);
        printed[line] = 1;
        IH_CHECK (seq < S_LINES * 2 && s_stored_line[seq] == line,
                  "publish printed seq=%" PRIu64 " for line %" PRIu64
                  " but the hub stored seq %" PRIu64 " with line %" PRIu64,
                  seq, line, seq, seq < S_LINES * 2 ? s_stored_line[seq] : 0);
        confirmed++;
    }
    free (out);

    //  ... and the lines without an answer are named, never printed
    char *err = s_slurp (ih_proc_stderr (cli));
    uint64_t unknown = 0;
    for (char *at = strstr (err, "publish: line "); at;
         at = strstr (at + 1, "publish: line ")) {
        uint64_t line;
        char what[16] = "";
        if (sscanf (at, "publish: line %" SCNu64 ": %15[^;]", &line, what) ==
                2 &&
            streq (what, "no answer")) {
            IH_CHECK (line >= 1 && line <= S_LINES && !printed[line],
                      "line %" PRIu64 " both confirmed and unanswered", line);
            unknown++;
        }
    }
    if (status == 0)
        IH_CHECK (confirmed == S_LINES && !mid_stream,
                  "publish exited 0 but confirmed %" PRIu64 " lines",
                  confirmed);
    else
        IH_CHECK (strstr (err, "stopped after line") ||
                      strstr (err, "no answer"),
                  "publish exited 1 without naming the lost lines: %s", err);
    free (err);
    free (printed);
    printf ("it_publish_restart: OK (exit %d, %" PRIu64
            " confirmed lines, %" PRIu64 " unanswered, %" PRIu64
            " events stored)\n",
            status, confirmed, unknown, stored);

    ih_proc_destroy (&cli);
    ih_proc_signal (agent, SIGTERM);
    IH_CHECK (ih_proc_wait_exit (agent, 10000) == 0, "agent did not stop");
    ih_proc_signal (hub, SIGTERM);
    IH_CHECK (ih_proc_wait_exit (hub, 10000) == 0, "hub did not stop");
    ih_proc_destroy (&agent);
    ih_proc_destroy (&hub);
    ih_tk_site_fini (&site);
    ih_tk_cleanup ();
    return 0;
}
