package flinkplatform.metadatafixtures;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.MapFunction;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.lib.NumberSequenceSource;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * The job whose snapshots are the fixtures:
 *
 * <pre>
 * numbers (source) → pace (stateless map) → keyBy → counter (keyed state) → rebalance
 *   → recent (operator list state) → sink (print)
 * </pre>
 *
 * Every operator has a uid; what each is configured with is in {@link #OPERATORS}, which the
 * generator also writes to expected.json, so the Go tests compare the reader against what the
 * job declared. The state is tiny: eight keys.
 */
final class FixtureJob {

    /** The job's default max parallelism; the counter sets its own. */
    static final int DEFAULT_MAX_PARALLELISM = 32;

    static final Spec NUMBERS = new Spec("source", "numbers", "numbers", 1, DEFAULT_MAX_PARALLELISM, "source");
    static final Spec PACE = new Spec("operator", "pace", "pace", 1, DEFAULT_MAX_PARALLELISM, "none");
    static final Spec COUNTER = new Spec("operator", "counter", "count per key", 2, 64, "keyed");
    static final Spec RECENT = new Spec("operator", "recent", "recent counts", 2, DEFAULT_MAX_PARALLELISM, "operator");
    static final Spec SINK = new Spec("sink", "sink", "sink", 1, DEFAULT_MAX_PARALLELISM, "none");
    /** A bounded source, only with withFiniteSource: it has finished when the snapshot is taken. */
    static final Spec FINITE = new Spec("source", "finite", "finite", 1, DEFAULT_MAX_PARALLELISM, "finished");

    static final List<Spec> OPERATORS = Arrays.asList(NUMBERS, PACE, COUNTER, RECENT, SINK, FINITE);

    /**
     * One operator as the job configures it. role: "source", "sink" or "operator" (Flink names
     * sources "Source: name" and sinks "Sink: name"). state: "source" (coordinator and reader
     * state), "keyed", "operator" (list state), "finished" (a source that ran out) or "none".
     */
    static final class Spec {
        final String role;
        final String uid;
        final String name;
        final int parallelism;
        final int maxParallelism;
        final String state;

        Spec(String role, String uid, String name, int parallelism, int maxParallelism, String state) {
            this.role = role;
            this.uid = uid;
            this.name = name;
            this.parallelism = parallelism;
            this.maxParallelism = maxParallelism;
            this.state = state;
        }
    }

    private FixtureJob() {}

    /**
     * Adds the topology to env. eventsPerSecond paces the source (the pace map sleeps); a slow
     * recent takes fewer events than that, so the channels in front of it fill up. A finite
     * source adds ten numbers to the counter's input and finishes.
     */
    static void build(StreamExecutionEnvironment env, int eventsPerSecond, boolean slowRecent, boolean withFiniteSource) {
        env.setMaxParallelism(DEFAULT_MAX_PARALLELISM);

        DataStream<Long> numbers =
                env.fromSource(
                                new NumberSequenceSource(0, Long.MAX_VALUE),
                                WatermarkStrategy.noWatermarks(),
                                NUMBERS.name)
                        .uid(NUMBERS.uid)
                        .setParallelism(NUMBERS.parallelism);

        DataStream<Long> paced =
                numbers.map(new Pace(eventsPerSecond))
                        .uid(PACE.uid)
                        .name(PACE.name)
                        .setParallelism(PACE.parallelism);

        if (withFiniteSource) {
            // Into the counter's input: pace stays chained to (and so paces) numbers.
            paced = paced.union(
                    env.fromSource(new NumberSequenceSource(0, 9), WatermarkStrategy.noWatermarks(), FINITE.name)
                            .uid(FINITE.uid)
                            .setParallelism(FINITE.parallelism));
        }

        DataStream<Long> counts =
                paced.keyBy(new ByKey())
                        .process(new Counter())
                        .uid(COUNTER.uid)
                        .name(COUNTER.name)
                        .setParallelism(COUNTER.parallelism)
                        .setMaxParallelism(COUNTER.maxParallelism);

        counts.rebalance()
                .map(new Recent(slowRecent ? eventsPerSecond / 4 : 0))
                .uid(RECENT.uid)
                .name(RECENT.name)
                .setParallelism(RECENT.parallelism)
                .print()
                .uid(SINK.uid)
                .name(SINK.name)
                .setParallelism(SINK.parallelism);
    }

    /** Sleeps so that the (chained) source emits about eventsPerSecond events. */
    static final class Pace implements MapFunction<Long, Long> {
        private final long sleepMicros;

        Pace(int eventsPerSecond) {
            this.sleepMicros = 1_000_000L / eventsPerSecond;
        }

        @Override
        public Long map(Long value) throws Exception {
            Thread.sleep(sleepMicros / 1000, (int) (sleepMicros % 1000) * 1000);
            return value;
        }
    }

    static final class ByKey implements KeySelector<Long, Long> {
        @Override
        public Long getKey(Long value) {
            return value % 8;
        }
    }

    /** Counts the events per key in keyed ValueState. */
    static final class Counter extends KeyedProcessFunction<Long, Long, Long> {
        private transient ValueState<Long> count;

        @Override
        public void processElement(Long value, Context ctx, Collector<Long> out) throws Exception {
            // Lazily: open() changed its signature between Flink 1.x and 2.x.
            if (count == null) {
                count = getRuntimeContext().getState(new ValueStateDescriptor<>("count", Types.LONG));
            }
            Long current = count.value();
            long next = current == null ? 1 : current + 1;
            count.update(next);
            out.collect(next);
        }
    }

    /** Keeps the last few values it saw in operator ListState (CheckpointedFunction). */
    static final class Recent extends RichMapFunction<Long, Long> implements CheckpointedFunction {
        private static final int KEEP = 4;
        private final List<Long> recent = new ArrayList<>();
        private final long sleepMillis;
        private transient ListState<Long> state;

        /** eventsPerSecond > 0: each subtask takes at most about that many events a second. */
        Recent(int eventsPerSecond) {
            this.sleepMillis = eventsPerSecond > 0 ? 1000L / eventsPerSecond : 0;
        }

        @Override
        public Long map(Long value) throws InterruptedException {
            if (sleepMillis > 0) {
                Thread.sleep(sleepMillis);
            }
            recent.add(value);
            if (recent.size() > KEEP) {
                recent.remove(0);
            }
            return value;
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) throws Exception {
            state.update(new ArrayList<>(recent));
        }

        @Override
        public void initializeState(FunctionInitializationContext context) throws Exception {
            state = context.getOperatorStateStore().getListState(new ListStateDescriptor<>("recent", Types.LONG));
            recent.clear();
            for (Long value : state.get()) {
                recent.add(value);
            }
        }
    }
}
