/*  =========================================================================
    ih_testkit - process, directory and signing helpers for integration
    tests. See ih_testkit.h.
    =========================================================================*/
#include <spawn.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>
#include "ih_testkit.h"
#include "ih_json.h"
#include "ih_record.h"

extern char **environ;

#define S_MAX_PROCS 64
#define S_MAX_DIRS 16

struct _ih_proc_t {
    pid_t pid;
    bool reaped;
    int status;
    char out_path[512];
    char err_path[512];
};

static ih_proc_t *s_procs[S_MAX_PROCS];
static char *s_dirs[S_MAX_DIRS];
static char s_bin[512];

int64_t
ih_tk_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
s_nap (void)
{
    //  Polling interval while waiting on a condition with a deadline.
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep (&ts, NULL);
}

void
ih_tk_fail (void)
{
    for (int i = 0; i < S_MAX_PROCS; i++)
        if (s_procs[i] && !s_procs[i]->reaped) {
            fprintf (stderr, "  child %d: stdout %s stderr %s\n",
                     (int) s_procs[i]->pid, s_procs[i]->out_path,
                     s_procs[i]->err_path);
            kill (s_procs[i]->pid, SIGKILL);
        }
    for (int i = 0; i < S_MAX_DIRS; i++)
        if (s_dirs[i])
            fprintf (stderr, "  kept %s\n", s_dirs[i]);
    exit (1);
}

const char *
ih_tk_tempdir (void)
{
    for (int i = 0; i < S_MAX_DIRS; i++)
        if (!s_dirs[i]) {
            char tmpl[] = "/tmp/ih-test-XXXXXX";
            char *dir = mkdtemp (tmpl);
            IH_CHECK (dir, "mkdtemp: %s", strerror (errno));
            s_dirs[i] = strdup (dir);
            return s_dirs[i];
        }
    IH_CHECK (false, "too many temporary directories");
    return NULL;
}

void
ih_tk_rmrf (const char *path)
{
    //  Test directories hold only files and one level of folders we made.
    DIR *dir = opendir (path);
    if (dir) {
        struct dirent *entry;
        while ((entry = readdir (dir))) {
            if (streq (entry->d_name, ".") || streq (entry->d_name, ".."))
                continue;
            char child[1024];
            snprintf (child, sizeof child, "%s/%s", path, entry->d_name);
            struct stat st;
            if (lstat (child, &st) == 0 && S_ISDIR (st.st_mode))
                ih_tk_rmrf (child);
            else
                unlink (child);
        }
        closedir (dir);
        rmdir (path);
    }
}

void
ih_tk_cleanup (void)
{
    for (int i = 0; i < S_MAX_PROCS; i++)
        if (s_procs[i])
            ih_proc_destroy (&s_procs[i]);
    for (int i = 0; i < S_MAX_DIRS; i++)
        if (s_dirs[i]) {
            ih_tk_rmrf (s_dirs[i]);
            free (s_dirs[i]);
            s_dirs[i] = NULL;
        }
}

void
ih_tk_paths (const char *dir, char *data, char *registry, char *ingest,
             char *pub)
{
    if (data)
        snprintf (data, 512, "%s/data", dir);
    if (registry)
        snprintf (registry, 512, "%s/registry.json", dir);
    if (ingest)
        snprintf (ingest, 256, "ipc://%s/ingest.sock", dir);
    if (pub)
        snprintf (pub, 256, "ipc://%s/pub.sock", dir);
}

void
ih_tk_copy (const char *from, const char *to)
{
    FILE *in = fopen (from, "rb");
    FILE *out = fopen (to, "wb");
    IH_CHECK (in && out, "copy %s -> %s", from, to);
    char buffer[65536];
    size_t got;
    while ((got = fread (buffer, 1, sizeof buffer, in)) > 0)
        IH_CHECK (fwrite (buffer, 1, got, out) == got, "write %s", to);
    fclose (in);
    fclose (out);
}

zmsg_t *
ih_tk_frames (int count, ...)
{
    zmsg_t *msg = zmsg_new ();
    va_list args;
    va_start (args, count);
    for (int i = 0; i < count; i++) {
        const char *text = va_arg (args, const char *);
        zmsg_addmem (msg, text, strlen (text));
    }
    va_end (args);
    return msg;
}

const char *
ih_tk_bin (const char *name)
{
    const char *sub = streq (name, "incuhubd")        ? "hub"
                      : streq (name, "incuhub-agent") ? "agents"
                                                      : "cli";
    snprintf (s_bin, sizeof s_bin, "%s/%s/%s", IH_BIN_DIR, sub, name);
    return s_bin;
}

ih_proc_t *
ih_proc_start (const char *log_dir, const char *name, const char *const *args)
{
    return ih_proc_start_stdin (log_dir, name, args, NULL);
}

ih_proc_t *
ih_proc_start_stdin (const char *log_dir, const char *name,
                     const char *const *args, const char *input_path)
{
    static int counter = 0;
    ih_proc_t *self = (ih_proc_t *) zmalloc (sizeof (ih_proc_t));
    counter++;
    snprintf (self->out_path, sizeof self->out_path, "%s/%s-%d.out", log_dir,
              name, counter);
    snprintf (self->err_path, sizeof self->err_path, "%s/%s-%d.err", log_dir,
              name, counter);
    const char *argv[64];
    int argc = 0;
    argv[argc++] = ih_tk_bin (name);
    while (args && *args && argc < 63)
        argv[argc++] = *args++;
    argv[argc] = NULL;

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_addopen (
        &actions, 0, input_path ? input_path : "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen (&actions, 1, self->out_path,
                                      O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen (&actions, 2, self->err_path,
                                      O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawn (&self->pid, argv[0], &actions, NULL,
                          (char *const *) argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    IH_CHECK (rc == 0, "posix_spawn %s: %s", argv[0], strerror (rc));
    for (int i = 0; i < S_MAX_PROCS; i++)
        if (!s_procs[i]) {
            s_procs[i] = self;
            break;
        }
    return self;
}

//  Reaps the child if it has exited; returns true if it has.
static bool
s_reap (ih_proc_t *self)
{
    if (self->reaped)
        return true;
    int status;
    if (waitpid (self->pid, &status, WNOHANG) == self->pid) {
        self->reaped = true;
        self->status =
            WIFEXITED (status) ? WEXITSTATUS (status) : 128 + WTERMSIG (status);
    }
    return self->reaped;
}

bool
ih_proc_alive (ih_proc_t *self)
{
    return !s_reap (self);
}

const char *
ih_proc_stdout (ih_proc_t *self)
{
    return self->out_path;
}

const char *
ih_proc_stderr (ih_proc_t *self)
{
    return self->err_path;
}

char *
ih_proc_wait_line (ih_proc_t *self, const char *prefix, int timeout_ms)
{
    int64_t deadline = ih_tk_now () + timeout_ms;
    while (ih_tk_now () < deadline) {
        FILE *file = fopen (self->out_path, "r");
        if (file) {
            char line[4096];
            while (fgets (line, sizeof line, file))
                if (strncmp (line, prefix, strlen (prefix)) == 0 &&
                    strchr (line, '\n')) {
                    fclose (file);
                    *strchr (line, '\n') = 0;
                    return strdup (line);
                }
            fclose (file);
        }
        if (!ih_proc_alive (self))
            return NULL;
        s_nap ();
    }
    return NULL;
}

char *
ih_tk_field (const char *line, const char *key)
{
    char pattern[128];
    snprintf (pattern, sizeof pattern, "%s=", key);
    const char *start = strstr (line, pattern);
    while (start && start != line && start[-1] != ' ')
        start = strstr (start + 1, pattern);
    if (!start)
        return NULL;
    start += strlen (pattern);
    size_t len = strcspn (start, " \n");
    return strndup (start, len);
}

void
ih_proc_signal (ih_proc_t *self, int sig)
{
    if (!self->reaped)
        kill (self->pid, sig);
}

int
ih_proc_wait_exit (ih_proc_t *self, int timeout_ms)
{
    int64_t deadline = ih_tk_now () + timeout_ms;
    while (!s_reap (self)) {
        if (ih_tk_now () >= deadline)
            return -1;
        s_nap ();
    }
    return self->status;
}

void
ih_proc_destroy (ih_proc_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    ih_proc_t *self = *self_p;
    if (!s_reap (self)) {
        kill (self->pid, SIGKILL);
        int status;
        waitpid (self->pid, &status, 0);
    }
    for (int i = 0; i < S_MAX_PROCS; i++)
        if (s_procs[i] == self)
            s_procs[i] = NULL;
    free (self);
    *self_p = NULL;
}

void
ih_tk_kill (ih_proc_t **proc_p, const char *what)
{
    ih_proc_signal (*proc_p, SIGKILL);
    IH_CHECK (ih_proc_wait_exit (*proc_p, 10000) == 128 + SIGKILL,
              "%s did not die of SIGKILL", what);
    ih_proc_destroy (proc_p);
}

void
ih_tk_stop (ih_proc_t **proc_p, const char *what)
{
    ih_proc_signal (*proc_p, SIGTERM);
    IH_CHECK (ih_proc_wait_exit (*proc_p, 10000) == 0, "%s did not stop", what);
    ih_proc_destroy (proc_p);
}

char *
ih_tk_slurp (const char *path)
{
    FILE *file = fopen (path, "r");
    IH_CHECK (file, "cannot read %s", path);
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *text = (char *) zmalloc ((size_t) size + 1);
    IH_CHECK (fread (text, 1, (size_t) size, file) == (size_t) size, "read %s",
              path);
    fclose (file);
    return text;
}

int
ih_tk_run (const char *log_dir, const char *name, const char *const *args,
           const char *input, char **out_p, char **err_p, int timeout_ms)
{
    static int counter = 0;
    char in_path[512];
    snprintf (in_path, sizeof in_path, "%s/stdin-%d.txt", log_dir, ++counter);
    FILE *file = fopen (in_path, "w");
    IH_CHECK (file, "cannot write %s", in_path);
    if (input)
        fputs (input, file);
    fclose (file);

    ih_proc_t *proc = ih_proc_start_stdin (log_dir, name, args, in_path);
    int status = ih_proc_wait_exit (proc, timeout_ms);
    if (out_p)
        *out_p = ih_tk_slurp (proc->out_path);
    if (err_p)
        *err_p = ih_tk_slurp (proc->err_path);
    ih_proc_destroy (&proc);
    return status;
}

void
ih_tk_site_init (ih_tk_site_t *self, const char *dir, const char *registry,
                 const char *site, const char *kind, const char *district)
{
    memset (self, 0, sizeof *self);
    self->key = ih_key_new (site);
    IH_CHECK (self->key, "ih_key_new %s", site);
    IH_CHECK (ih_key_save (self->key, dir) == IH_OK, "ih_key_save %s", site);
    snprintf (self->site, sizeof self->site, "%s", site);
    snprintf (self->district, sizeof self->district, "%s", district);
    if (registry) {
        ih_regchange_t change;
        memset (&change, 0, sizeof change);
        change.op = IH_REG_OP_SITE_ADDED;
        snprintf (change.site, sizeof change.site, "%s", site);
        snprintf (change.kind, sizeof change.kind, "%s", kind);
        snprintf (change.district, sizeof change.district, "%s", district);
        memcpy (change.sign_key, ih_key_public (self->key), IH_KEY_PUBLIC_SIZE);
        memcpy (change.curve_key, ih_key_curve_public (self->key),
                IH_KEY_CURVE_SIZE);
        ih_tk_registry_change (registry, &change, NULL, NULL);
    }
}

void
ih_tk_site_rotate (ih_tk_site_t *self, const char *dir, const char *registry)
{
    ih_key_t *key = ih_key_new (self->site);
    IH_CHECK (key, "ih_key_new %s", self->site);
    IH_CHECK (ih_key_save (key, dir) == IH_OK, "ih_key_save %s in %s",
              self->site, dir);
    ih_regchange_t change;
    memset (&change, 0, sizeof change);
    change.op = IH_REG_OP_KEY_ROTATED;
    snprintf (change.site, sizeof change.site, "%s", self->site);
    memcpy (change.sign_key, ih_key_public (key), IH_KEY_PUBLIC_SIZE);
    memcpy (change.curve_key, ih_key_curve_public (key), IH_KEY_CURVE_SIZE);
    change.from_seq = self->seq + 1;
    ih_tk_registry_change (registry, &change, NULL, NULL);
    ih_key_destroy (&self->key);
    self->key = key;
}

//  Directory of a path ("." if it has none), into dir.
static void
s_dirname (const char *path, char *dir, size_t size)
{
    const char *slash = strrchr (path, '/');
    if (!slash)
        snprintf (dir, size, ".");
    else
        snprintf (dir, size, "%.*s", (int) (slash - path), path);
}

const char *
ih_tk_bureau_pub (const char *registry)
{
    static char paths[S_MAX_DIRS][600];
    static size_t next = 0;
    char dir[512];
    s_dirname (registry, dir, sizeof dir);
    char *path = paths[next++ % S_MAX_DIRS];
    snprintf (path, 600, "%s/%s.pub", dir, IH_TK_BUREAU);
    return path;
}

ih_key_t *
ih_tk_bureau (const char *registry)
{
    char dir[512], path[600];
    s_dirname (registry, dir, sizeof dir);
    snprintf (path, sizeof path, "%s/%s.key", dir, IH_TK_BUREAU);
    ih_key_t *bureau = NULL;
    if (access (path, F_OK) == 0)
        IH_CHECK (ih_key_load (path, &bureau) == IH_OK, "load %s", path);
    else {
        bureau = ih_key_new (IH_TK_BUREAU);
        IH_CHECK (bureau && ih_key_save (bureau, dir) == IH_OK, "save %s",
                  path);
    }
    if (ih_tk_journal_count (registry) > 0)
        return bureau;
    //  A new journal: reliability tests use any event type
    const char *kinds[] = {"district", "incubator", "offshore", "remote"};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++) {
        ih_regchange_t change;
        memset (&change, 0, sizeof change);
        change.op = IH_REG_OP_PERMISSIONS;
        snprintf (change.kind, sizeof change.kind, "%s", kinds[i]);
        change.publish_count = 1;
        snprintf (change.publish[0], sizeof change.publish[0], "*");
        change.read = streq (kinds[i], "district") ? IH_READ_ALL : IH_READ_OWN;
        IH_CHECK (ih_journal_append (registry, bureau, &change, NULL, NULL) ==
                      IH_OK,
                  "journal %s", registry);
    }
    return bureau;
}

typedef struct {
    uint8_t *bytes;
    size_t size;
} s_last_t;

static int
s_journal_last_one (const uint8_t *bytes, size_t size, size_t line, void *arg)
{
    (void) line;
    s_last_t *last = (s_last_t *) arg;
    free (last->bytes);
    last->bytes = (uint8_t *) malloc (size);
    memcpy (last->bytes, bytes, size);
    last->size = size;
    return 0;
}

static int
s_journal_count_one (const uint8_t *bytes, size_t size, size_t line, void *arg)
{
    (void) bytes;
    (void) size;
    (void) line;
    (*(size_t *) arg)++;
    return 0;
}

size_t
ih_tk_journal_count (const char *registry)
{
    size_t count = 0;
    if (access (registry, F_OK) == 0)
        IH_CHECK (ih_journal_read (registry, s_journal_count_one, &count) ==
                      IH_OK,
                  "read %s", registry);
    return count;
}

bool
ih_tk_journal_last (const char *registry, uint8_t **bytes_p, size_t *size_p)
{
    s_last_t last = {NULL, 0};
    if (ih_journal_read (registry, s_journal_last_one, &last) != IH_OK ||
        !last.bytes) {
        free (last.bytes);
        return false;
    }
    *bytes_p = last.bytes;
    *size_p = last.size;
    return true;
}

void
ih_tk_registry_change (const char *registry, const ih_regchange_t *change,
                       uint8_t **bytes_p, size_t *size_p)
{
    ih_key_t *bureau = ih_tk_bureau (registry);
    ih_err_t err =
        ih_journal_append (registry, bureau, change, bytes_p, size_p);
    IH_CHECK (err == IH_OK, "ih_journal_append %s: %s", registry,
              ih_err_name (err));
    ih_key_destroy (&bureau);
}

void
ih_tk_site_fini (ih_tk_site_t *self)
{
    ih_key_destroy (&self->key);
}

uint8_t *
ih_tk_site_sign (ih_tk_site_t *self, const char *type, const char *json,
                 size_t *size_p)
{
    json_error_t error;
    json_t *object = json_loads (json, 0, &error);
    IH_CHECK (object, "bad test JSON: %s", error.text);
    uint8_t *data;
    size_t data_size;
    IH_CHECK (ih_json_to_msgpack (object, &data, &data_size) == IH_OK,
              "ih_json_to_msgpack");
    json_decref (object);
    ih_event_t event;
    memset (&event, 0, sizeof event);
    snprintf (event.site, sizeof event.site, "%s", self->site);
    snprintf (event.type, sizeof event.type, "%s", type);
    event.seq = self->seq + 1;
    event.ts = (uint64_t) ((int64_t) ih_event_now () + self->clock_offset);
    memcpy (event.prev, self->prev, IH_HASH_SIZE);
    event.data = data;
    event.data_size = data_size;
    uint8_t *bytes;
    IH_CHECK (ih_event_sign (&event, self->key, &bytes, size_p) == IH_OK,
              "ih_event_sign");
    free (data);
    self->seq++;
    ih_event_hash (bytes, *size_p, self->prev);
    return bytes;
}

ih_proc_t *
ih_tk_hub_start (const char *dir, const char *data, const char *registry,
                 const char *ingest, const char *pub, char *ingest_out,
                 char *pub_out)
{
    return ih_tk_hub_start_ex (dir, data, registry, ingest, pub, NULL,
                               ingest_out, pub_out);
}

ih_proc_t *
ih_tk_hub_start_ex (const char *dir, const char *data, const char *registry,
                    const char *ingest, const char *pub,
                    const char *const *extra, char *ingest_out, char *pub_out)
{
    const char *args[48] = {"--data",       data,
                            "--registry",   registry,
                            "--ingest",     ingest,
                            "--pub",        pub,
                            "--bureau-key", ih_tk_bureau_pub (registry)};
    int argc = 10;
    bool curve = false;
    while (extra && *extra && argc < 46) {
        if (streq (*extra, "--curve"))
            curve = true;
        else
            args[argc++] = *extra;
        extra++;
    }
    if (!curve)
        args[argc++] = "--plaintext";
    args[argc] = NULL;
    //  The bureau key must exist before the hub pins it
    ih_key_t *bureau = ih_tk_bureau (registry);
    ih_key_destroy (&bureau);
    ih_proc_t *hub = ih_proc_start (dir, "incuhubd", args);
    char *line = ih_proc_wait_line (hub, "incuhubd: ready", 20000);
    IH_CHECK (line, "incuhubd did not become ready (see %s)",
              ih_proc_stderr (hub));
    char *value = ih_tk_field (line, "ingest");
    IH_CHECK (value, "no ingest= in '%s'", line);
    if (ingest_out)
        snprintf (ingest_out, 256, "%s", value);
    free (value);
    value = ih_tk_field (line, "pub");
    IH_CHECK (value, "no pub= in '%s'", line);
    if (pub_out)
        snprintf (pub_out, 256, "%s", value);
    free (value);
    free (line);
    return hub;
}

ih_proc_t *
ih_tk_agent_start_args (const char *dir, const char *const *args,
                        char **ready_p)
{
    ih_proc_t *agent = ih_proc_start (dir, "incuhub-agent", args);
    char *line = ih_proc_wait_line (agent, "incuhub-agent: ready", 20000);
    IH_CHECK (line, "incuhub-agent not ready (see %s)", ih_proc_stderr (agent));
    if (ready_p)
        *ready_p = line;
    else
        free (line);
    return agent;
}

ih_proc_t *
ih_tk_agent_start (const char *dir, const char *site, const char *hub,
                   const char *const *extra, char *listen_out)
{
    char key[600], outbox[600], listen[256];
    snprintf (key, sizeof key, "%s/%s.key", dir, site);
    snprintf (outbox, sizeof outbox, "%s/outbox-%s", dir, site);
    snprintf (listen, sizeof listen, "ipc://%s/agent-%s.sock", dir, site);
    const char *args[48] = {"--site", site,       "--key", key,        "--hub",
                            hub,      "--outbox", outbox,  "--listen", listen};
    int argc = 10;
    while (extra && *extra && argc < 47)
        args[argc++] = *extra++;
    args[argc] = NULL;
    ih_proc_t *agent = ih_tk_agent_start_args (dir, args, NULL);
    if (listen_out)
        snprintf (listen_out, 256, "%s", listen);
    return agent;
}

json_t *
ih_tk_status (const char *endpoint)
{
    zmsg_t *request = ih_wire_status_request ();
    ih_wire_t wire;
    zmsg_t *reply = ih_tk_request (endpoint, &request, &wire, 10000);
    IH_CHECK (reply && wire.kind == IH_WIRE_STATUS, "no STATUS from %s",
              endpoint);
    json_t *status = json_loadb (wire.json, wire.json_size, 0, NULL);
    IH_CHECK (status, "STATUS from %s is not JSON", endpoint);
    zmsg_destroy (&reply);
    return status;
}

json_int_t
ih_tk_status_int (const char *endpoint, const char *field)
{
    json_t *status = ih_tk_status (endpoint);
    json_int_t value = json_integer_value (json_object_get (status, field));
    json_decref (status);
    return value;
}

void
ih_tk_agent_drain (const char *endpoint, int timeout_ms)
{
    int64_t deadline = ih_tk_now () + timeout_ms;
    json_int_t backlog;
    while ((backlog = ih_tk_status_int (endpoint, "backlog")) != 0) {
        IH_CHECK (ih_tk_now () < deadline,
                  "agent %s does not drain: backlog %lld", endpoint,
                  (long long) backlog);
        s_nap ();
    }
}

int
ih_tk_audit (const char *dir, const char *data, const char *registry,
             char **out_p, char **err_p)
{
    const char *args[] = {
        "audit", "--data", data, "--bureau-key", ih_tk_bureau_pub (registry),
        NULL};
    return ih_tk_run (dir, "incuhub", args, NULL, out_p, err_p, 60000);
}

void
ih_tk_ingest (const char *endpoint, int count, int window, int timeout_ms,
              ih_tk_event_fn *make, void *arg)
{
    zsock_t *dealer = zsock_new_dealer (endpoint);
    IH_CHECK (dealer, "cannot connect to %s", endpoint);
    zsock_set_rcvtimeo (dealer, timeout_ms);
    int sent = 0, acked = 0;
    while (acked < count) {
        while (sent < count && sent - acked < window) {
            size_t size;
            uint8_t *bytes = make (sent, &size, arg);
            zmsg_t *msg = ih_wire_event (bytes, size);
            free (bytes);
            IH_CHECK (zmsg_send (&msg, dealer) == 0, "send");
            sent++;
        }
        zmsg_t *reply = zmsg_recv (dealer);
        IH_CHECK (reply, "no ACK after %d of %d", acked, count);
        ih_wire_t wire;
        IH_CHECK (
            ih_wire_decode (reply, &wire) == IH_OK && wire.kind == IH_WIRE_ACK,
            "not an ACK (kind %d code %d)", (int) wire.kind, (int) wire.code);
        zmsg_destroy (&reply);
        acked++;
    }
    zsock_destroy (&dealer);
}

zmsg_t *
ih_tk_request (const char *endpoint, zmsg_t **request_p, ih_wire_t *wire,
               int timeout_ms)
{
    zsock_t *dealer = zsock_new_dealer (endpoint);
    IH_CHECK (dealer, "cannot connect to %s", endpoint);
    zsock_set_rcvtimeo (dealer, timeout_ms);
    zmsg_send (request_p, dealer);
    zmsg_t *reply = zmsg_recv (dealer);
    zsock_destroy (&dealer);
    if (reply && ih_wire_decode (reply, wire) != IH_OK)
        IH_CHECK (false, "undecodable reply from %s", endpoint);
    return reply;
}

typedef struct {
    zhashx_t *sites; //  site -> last seq (uint64_t *)
    uint64_t events;
    uint64_t last_hub_seq;
} s_check_t;

static int
s_check_one (uint64_t hub_seq, uint64_t received, const uint8_t *bytes,
             size_t size, void *arg)
{
    s_check_t *check = (s_check_t *) arg;
    IH_CHECK (received != 0, "record %" PRIu64 " does not decode", hub_seq);
    IH_CHECK (hub_seq == check->last_hub_seq + 1,
              "hub_seq %" PRIu64 " follows %" PRIu64, hub_seq,
              check->last_hub_seq);
    check->last_hub_seq = hub_seq;
    ih_event_t event;
    IH_CHECK (ih_event_decode (bytes, size, &event) == IH_OK,
              "event at hub_seq %" PRIu64 " does not decode", hub_seq);
    uint64_t *last = (uint64_t *) zhashx_lookup (check->sites, event.site);
    if (!last) {
        last = (uint64_t *) zmalloc (sizeof (uint64_t));
        zhashx_insert (check->sites, event.site, last);
    }
    IH_CHECK (event.seq == *last + 1,
              "site %s: seq %" PRIu64 " after %" PRIu64 " at hub_seq %" PRIu64,
              event.site, event.seq, *last, hub_seq);
    *last = event.seq;
    if (!streq (event.site, IH_TK_BUREAU))
        check->events++;
    return 0;
}

void
ih_tk_log_scan (const char *data, ih_log_fn *fn, void *arg)
{
    ih_log_t *log = ih_log_new (data, true, 0);
    IH_CHECK (log, "cannot open log %s read-only", data);
    IH_CHECK (ih_log_read (log, 1, 0, fn, arg) == IH_OK, "ih_log_read %s",
              data);
    ih_log_destroy (&log);
}

uint64_t
ih_tk_log_check (const char *data, zhashx_t **site_counts_p)
{
    s_check_t check = {zhashx_new (), 0, 0};
    zhashx_set_destructor (check.sites, (zhashx_destructor_fn *) zstr_free);
    ih_tk_log_scan (data, s_check_one, &check);
    zhashx_delete (check.sites, IH_TK_BUREAU);
    if (site_counts_p)
        *site_counts_p = check.sites;
    else
        zhashx_destroy (&check.sites);
    return check.events;
}
