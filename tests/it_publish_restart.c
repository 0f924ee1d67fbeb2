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

int
main (void)
{
    const char *dir = ih_tk_tempdir ();
    char data[512], registry[512], ingest[256], pub[256], listen[256],
        input[512];
    ih_tk_paths (dir, data, registry, ingest, pub);
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
    ih_proc_t *agent = ih_tk_agent_start (dir, site.site, ingest, NULL, listen);
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
    ih_tk_kill (&agent, "agent");
    agent = ih_tk_agent_start (dir, site.site, ingest, NULL, NULL);
    int status = ih_proc_wait_exit (cli, 60000);
    IH_CHECK (status == 0 || status == 1, "publish exited %d (see %s)", status,
              ih_proc_stderr (cli));

    //  Let the agent drain, then read what the hub stored
    ih_tk_agent_drain (listen, 60000);
    uint64_t stored = ih_tk_log_check (data, NULL);
    ih_tk_log_scan (data, s_scan, NULL);

    //  Every seq= line the CLI printed is true
    uint8_t *printed = (uint8_t *) zmalloc (S_LINES + 1);
    char *out = ih_tk_slurp (ih_proc_stdout (cli));
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
    char *err = ih_tk_slurp (ih_proc_stderr (cli));
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
    ih_tk_stop (&agent, "agent");
    ih_tk_stop (&hub, "hub");
    ih_tk_site_fini (&site);
    ih_tk_cleanup ();
    return 0;
}
