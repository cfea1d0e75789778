package flinkplatform.metadatafixtures;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.execution.ExecutionState;
import org.apache.flink.runtime.executiongraph.AccessExecutionGraph;
import org.apache.flink.runtime.executiongraph.AccessExecutionJobVertex;
import org.apache.flink.runtime.jobgraph.JobGraph;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * Runs {@link FixtureJob} on an in-process MiniCluster once per {@link Variant} (a state backend
 * or a checkpoint setting) and copies the _metadata of the snapshots each run takes to
 * OUT/&lt;variant&gt;-&lt;kind&gt;/_metadata (kind: canonical-savepoint, native-savepoint,
 * checkpoint), then writes OUT/expected.json: the operators as the job configures them and the
 * snapshots taken.
 *
 * <p>Usage: GenerateFixtures OUT FLINK_VERSION. Progress (each run's time) goes to stdout, Flink's
 * errors to stderr; what the job's print sink writes is discarded. -Dfixtures.only=VARIANT runs one
 * variant, -Dfixtures.debug=1 says more.
 */
public final class GenerateFixtures {

    private static final long TIMEOUT_SECONDS = 120;
    private static final int EVENTS_PER_SECOND = 500;
    private static final long CHECKPOINT_INTERVAL_MS = 200;
    private static final int PARALLEL_RUNS = 3;

    private static PrintStream progress = System.out;

    /**
     * One run of the job: a name (the prefix of its snapshots' directories), the configuration
     * that sets it apart, which snapshots it takes, and the first Flink version that has it.
     */
    private static final class Variant {
        final String name;
        final Map<String, String> settings = new LinkedHashMap<>();
        boolean savepoints = true;
        boolean slowRecent;
        boolean finiteSource;
        String since = "1.18";

        Variant(String name, String backend) {
            this.name = name;
            settings.put("state.backend.type", backend);
        }

        Variant set(String key, String value) {
            settings.put(key, value);
            return this;
        }

        /** Bytes below which state is written inline into _metadata (Flink's default: 20kb). */
        Variant inlineThreshold(String size) {
            // The key was renamed in Flink 2.0; each version ignores the other's.
            return set("state.storage.fs.memory-threshold", size)
                    .set("execution.checkpointing.data-inline-threshold", size);
        }

        Variant checkpointOnly() {
            savepoints = false;
            return this;
        }
    }

    /**
     * The state backends (hashmap, rocksdb, rocksdb with incremental checkpoints) with a canonical
     * savepoint, a native savepoint and a retained checkpoint each; then checkpoints that carry
     * the rarer handles: channel state (unaligned checkpoints under backpressure), changelog
     * handles, file-merging segments (Flink 1.20 and later), and a source that has finished.
     */
    private static List<Variant> variants() {
        return Arrays.asList(
                new Variant("hashmap", "hashmap"),
                // Threshold 0: RocksDB's snapshots refer to files (absolute and relative paths).
                new Variant("rocksdb", "rocksdb").inlineThreshold("0b"),
                new Variant("rocksdb-incremental", "rocksdb").inlineThreshold("0b").set("state.backend.incremental", "true"),
                unaligned(),
                // Flink 1.18 and 1.19 keep the changes in memory here (inline in _metadata), later
                // versions in files: both kinds of changelog handle are read.
                new Variant("changelog", "hashmap")
                        .checkpointOnly()
                        .set("state.changelog.enabled", "true")
                        .set("state.changelog.storage", "filesystem")
                        .set("state.changelog.periodic-materialize.interval", "200ms"),
                fileMerging(),
                finished());
    }

    private static Variant finished() {
        Variant v = new Variant("finished", "hashmap").checkpointOnly();
        v.finiteSource = true;
        return v;
    }

    private static Variant unaligned() {
        Variant v = new Variant("unaligned", "hashmap")
                .checkpointOnly()
                // Flink 1.x's key, and 2.x's (which still reads the old one, but warns).
                .set("execution.checkpointing.unaligned", "true")
                .set("execution.checkpointing.unaligned.enabled", "true");
        // recent is slower than its input: the channels in front of it are full of data.
        v.slowRecent = true;
        return v;
    }

    private static Variant fileMerging() {
        Variant v = new Variant("file-merging", "hashmap")
                .checkpointOnly()
                .inlineThreshold("0b")
                .set("execution.checkpointing.file-merging.enabled", "true");
        v.since = "1.20";
        return v;
    }

    /** One snapshot written: its directory under OUT and what it is. */
    private static final class Snapshot {
        final String dir;
        final String variant;
        final String kind; // "savepoint" or "checkpoint"
        final String format; // "canonical", "native" ("" for a checkpoint)
        final List<String> operators = new ArrayList<>(); // the uids of the job's operators

        Snapshot(Variant variant, String kind, String format) {
            this.dir = variant.name + "-" + (format.isEmpty() ? "" : format + "-") + kind;
            this.variant = variant.name;
            this.kind = kind;
            this.format = format;
            for (FixtureJob.Spec op : FixtureJob.OPERATORS) {
                if (op != FixtureJob.FINITE || variant.finiteSource) {
                    operators.add(op.uid);
                }
            }
        }
    }

    private GenerateFixtures() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: GenerateFixtures OUT FLINK_VERSION");
            System.exit(2);
        }
        Path out = Paths.get(args[0]).toAbsolutePath();
        String flinkVersion = args[1];
        // The print sink writes to System.out when it opens: progress keeps the real stdout.
        progress = System.out;
        System.setOut(new PrintStream(OutputStream.nullOutputStream()));

        Files.createDirectories(out);
        Path work = Files.createTempDirectory("metadata-fixtures-");
        // A few clusters at a time: the jobs mostly wait (paced source, checkpoint interval).
        ExecutorService pool = Executors.newFixedThreadPool(PARALLEL_RUNS);
        List<Future<List<Snapshot>>> runs = new ArrayList<>();
        String only = System.getProperty("fixtures.only");
        for (Variant variant : variants()) {
            if (!olderThan(flinkVersion, variant.since) && (only == null || only.equals(variant.name))) {
                runs.add(pool.submit(() -> timedRun(flinkVersion, variant, work.resolve(variant.name), out)));
            }
        }
        List<Snapshot> snapshots = new ArrayList<>();
        try {
            for (Future<List<Snapshot>> run : runs) {
                snapshots.addAll(run.get());
            }
        } finally {
            pool.shutdownNow();
            deleteTree(work);
        }
        writeExpected(out.resolve("expected.json"), flinkVersion, snapshots);
        // MiniCluster leaves non-daemon threads behind in some versions.
        System.exit(0);
    }

    private static List<Snapshot> timedRun(String flinkVersion, Variant variant, Path work, Path out) throws Exception {
        long start = System.nanoTime();
        List<Snapshot> taken = run(variant, work, out);
        log("flink %s: %s in %d ms", flinkVersion, variant.name, (System.nanoTime() - start) / 1_000_000);
        return taken;
    }

    /** Runs the job on a fresh MiniCluster set up as variant says and copies its snapshots' _metadata. */
    private static List<Snapshot> run(Variant variant, Path work, Path out) throws Exception {
        Configuration conf = clusterConfiguration(variant, work);
        MiniClusterConfiguration clusterConf =
                new MiniClusterConfiguration.Builder()
                        .setConfiguration(conf)
                        .setNumTaskManagers(1)
                        .setNumSlotsPerTaskManager(2)
                        .build();
        List<Snapshot> taken = new ArrayList<>();
        try (MiniCluster cluster = new MiniCluster(clusterConf)) {
            cluster.start();
            StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(conf);
            env.enableCheckpointing(CHECKPOINT_INTERVAL_MS);
            if (Boolean.parseBoolean(variant.settings.get("state.changelog.enabled"))) {
                // Flink 1.18 and 1.19 do not take it from the configuration alone.
                env.enableChangelogStateBackend(true);
            }
            FixtureJob.build(env, EVENTS_PER_SECOND, variant.slowRecent, variant.finiteSource);
            JobGraph job = env.getStreamGraph().getJobGraph();
            JobID id = job.getJobID();
            cluster.submitJob(job).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);

            // The first checkpoint that succeeds says that every task runs; a few periodic ones
            // after it give an incremental checkpoint files shared with earlier checkpoints (and
            // the changelog a materialization, the unaligned checkpoint full channels).
            awaitCheckpoint(cluster, id);
            debug("%s: first checkpoint", variant.name);
            Thread.sleep(4 * CHECKPOINT_INTERVAL_MS);

            if (variant.savepoints) {
                String dir = work.resolve("savepoints").toUri().toString();
                for (SavepointFormatType format : new SavepointFormatType[] {SavepointFormatType.CANONICAL, SavepointFormatType.NATIVE}) {
                    String path = cluster.triggerSavepoint(id, dir, false, format).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
                    String kind = format.name().toLowerCase(Locale.ROOT);
                    taken.add(copy(path, out, new Snapshot(variant, "savepoint", kind)));
                }
            }
            if (variant.finiteSource) {
                awaitFinished(cluster, id, "Source: " + FixtureJob.FINITE.name);
            }
            debug("%s: savepoints", variant.name);
            // Retried: a checkpoint is declined while a task finishes.
            String checkpoint = awaitCheckpoint(cluster, id);
            debug("%s: checkpoint", variant.name);
            taken.add(copy(checkpoint, out, new Snapshot(variant, "checkpoint", "")));

            cluster.cancelJob(id).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            debug("%s: cancelled", variant.name);
        }
        debug("%s: closed", variant.name);
        return taken;
    }

    private static Configuration clusterConfiguration(Variant variant, Path work) {
        Configuration conf = new Configuration();
        set(conf, "state.checkpoints.dir", work.resolve("checkpoints").toUri().toString());
        set(conf, "state.savepoints.dir", work.resolve("savepoints").toUri().toString());
        set(conf, "dstl.dfs.base-path", work.resolve("changelog").toUri().toString());
        // Keep every checkpoint of the short run: none is deleted before it is copied.
        set(conf, "state.checkpoints.num-retained", "100");
        set(conf, "execution.checkpointing.externalized-checkpoint-retention", "RETAIN_ON_CANCELLATION");
        set(conf, "rest.bind-port", "0");
        set(conf, "taskmanager.memory.managed.size", "64m");
        for (Map.Entry<String, String> setting : variant.settings.entrySet()) {
            set(conf, setting.getKey(), setting.getValue());
        }
        return conf;
    }

    /** Whether Flink version (1.20.5) is older than since (1.20): compares major.minor. */
    private static boolean olderThan(String version, String since) {
        String[] v = version.split("\\.");
        String[] s = since.split("\\.");
        int major = Integer.parseInt(v[0]) - Integer.parseInt(s[0]);
        return major != 0 ? major < 0 : Integer.parseInt(v[1]) < Integer.parseInt(s[1]);
    }

    private static void set(Configuration conf, String key, String value) {
        conf.set(ConfigOptions.key(key).stringType().noDefaultValue(), value);
    }

    /** Triggers checkpoints until one succeeds (tasks not yet running decline) and returns its path. */
    private static String awaitCheckpoint(MiniCluster cluster, JobID id) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_SECONDS);
        while (true) {
            try {
                return cluster.triggerCheckpoint(id).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            } catch (ExecutionException notYet) {
                if (System.nanoTime() > deadline) {
                    throw notYet;
                }
                debug("checkpoint not yet: %s", notYet.getCause());
                Thread.sleep(100);
            }
        }
    }

    /** Waits until the job vertex named vertexName has finished on every subtask. */
    private static void awaitFinished(MiniCluster cluster, JobID id, String vertexName) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(TIMEOUT_SECONDS);
        while (true) {
            AccessExecutionGraph graph = cluster.getExecutionGraph(id).get(TIMEOUT_SECONDS, TimeUnit.SECONDS);
            for (AccessExecutionJobVertex vertex : graph.getAllVertices().values()) {
                if (vertex.getName().equals(vertexName) && vertex.getAggregateState() == ExecutionState.FINISHED) {
                    return;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(vertexName + " did not finish");
            }
            Thread.sleep(100);
        }
    }

    /** Copies the _metadata of the snapshot at pointer (a directory URI) to OUT/snapshot.dir. */
    private static Snapshot copy(String pointer, Path out, Snapshot snapshot) throws IOException {
        Path source = Paths.get(URI.create(pointer)).resolve("_metadata");
        Path target = out.resolve(snapshot.dir).resolve("_metadata");
        Files.createDirectories(target.getParent());
        Files.copy(source, target, StandardCopyOption.REPLACE_EXISTING);
        return snapshot;
    }

    private static void writeExpected(Path file, String flinkVersion, List<Snapshot> snapshots) throws IOException {
        StringBuilder json = new StringBuilder();
        json.append("{\n  \"flinkVersion\": \"").append(flinkVersion).append("\",\n  \"operators\": [\n");
        for (int i = 0; i < FixtureJob.OPERATORS.size(); i++) {
            FixtureJob.Spec op = FixtureJob.OPERATORS.get(i);
            json.append(String.format(
                    "    {\"uid\": \"%s\", \"name\": \"%s\", \"role\": \"%s\", \"parallelism\": %d, \"maxParallelism\": %d, \"state\": \"%s\"}%s\n",
                    op.uid, op.name, op.role, op.parallelism, op.maxParallelism, op.state, i + 1 < FixtureJob.OPERATORS.size() ? "," : ""));
        }
        json.append("  ],\n  \"snapshots\": [\n");
        for (int i = 0; i < snapshots.size(); i++) {
            Snapshot s = snapshots.get(i);
            json.append(String.format(
                    "    {\"dir\": \"%s\", \"variant\": \"%s\", \"kind\": \"%s\", \"format\": \"%s\", \"operators\": [\"%s\"]}%s\n",
                    s.dir, s.variant, s.kind, s.format, String.join("\", \"", s.operators), i + 1 < snapshots.size() ? "," : ""));
        }
        json.append("  ]\n}\n");
        Files.write(file, json.toString().getBytes(StandardCharsets.UTF_8));
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }

    private static void debug(String format, Object... args) {
        if (System.getProperty("fixtures.debug") != null) {
            log("%tT.%<tL %s", System.currentTimeMillis(), String.format(format, args));
        }
    }

    private static void log(String format, Object... args) {
        progress.println("metadata fixtures: " + String.format(format, args));
    }
}
