# tf.app.flags / tf.app.run, tf.logging, tf.gfile, summaries with a FileWriter
import tensorflow as tf

flags = tf.app.flags
flags.DEFINE_integer("max_steps", 4, "Number of steps to run trainer.")
flags.DEFINE_float("learning_rate", 0.5, "Initial learning rate.")
flags.DEFINE_string("summaries_dir", "logs", "Summaries log directory")
FLAGS = flags.FLAGS


def main(_):
    if tf.gfile.Exists(FLAGS.summaries_dir):
        tf.gfile.DeleteRecursively(FLAGS.summaries_dir)
    tf.gfile.MakeDirs(FLAGS.summaries_dir)
    tf.logging.set_verbosity(tf.logging.INFO)
    w = tf.Variable(3.0, name="w")
    loss = tf.square(w - 1.0)
    tf.summary.scalar("loss", loss)
    merged = tf.summary.merge_all()
    train = tf.train.GradientDescentOptimizer(FLAGS.learning_rate / 2).minimize(loss)
    with tf.Session() as sess:
        writer = tf.summary.FileWriter(FLAGS.summaries_dir, sess.graph)
        sess.run(tf.initialize_all_variables())
        for step in range(FLAGS.max_steps):
            summary, value, _ = sess.run([merged, loss, train])
            writer.add_summary(summary, step)
            print(step, value, type(summary).__name__)
        writer.close()
    print(len(tf.gfile.Glob(FLAGS.summaries_dir + "/events.out.tfevents*")) == 1)
    print(
        tf.GraphKeys.TRAINABLE_VARIABLES,
        [v.name for v in tf.get_collection(tf.GraphKeys.TRAINABLE_VARIABLES)],
    )


if __name__ == "__main__":
    tf.app.run()
