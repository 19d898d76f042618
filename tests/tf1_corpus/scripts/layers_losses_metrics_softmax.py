# corpus: needs=mnist
# Softmax regression on MNIST with tf.layers, tf.losses and tf.metrics (zero-initialised, the
# batches seeded by read_data_sets(seed=0), so TF prints the same numbers on every run)
import tensorflow as tf
from tensorflow.examples.tutorials.mnist import input_data

mnist = input_data.read_data_sets("MNIST_data", one_hot=True, seed=0)

x = tf.placeholder(tf.float32, [None, 784], name="x-input")
y_ = tf.placeholder(tf.float32, [None, 10], name="y-input")

with tf.variable_scope("model"):
    logits = tf.layers.dense(x, 10, kernel_initializer=tf.zeros_initializer(), name="logits")
loss = tf.losses.softmax_cross_entropy(onehot_labels=y_, logits=logits)
total_loss = tf.losses.get_total_loss()
train_step = tf.train.GradientDescentOptimizer(0.1).minimize(total_loss)

labels = tf.argmax(y_, 1)
predicted = tf.argmax(logits, 1)
acc, acc_op = tf.metrics.accuracy(labels=labels, predictions=predicted)
mean_loss, mean_loss_op = tf.metrics.mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=logits))
prec, prec_op = tf.metrics.precision(labels=tf.equal(labels, 0), predictions=tf.equal(predicted, 0))
print([v.name for v in tf.trainable_variables()], [v.name for v in tf.local_variables()])

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for epoch in range(2):
        sess.run(tf.local_variables_initializer())
        for i in range(mnist.train.num_examples // 100):
            batch_xs, batch_ys = mnist.train.next_batch(100)
            sess.run([train_step, acc_op], feed_dict={x: batch_xs, y_: batch_ys})
        print("epoch %d train accuracy = %s" % (epoch, sess.run(acc)))
        sess.run(tf.local_variables_initializer())
        sess.run([acc_op, mean_loss_op, prec_op], feed_dict={x: mnist.test.images, y_: mnist.test.labels})
        print("test accuracy = %s" % sess.run(acc))
        print("test mean loss = %s" % sess.run(mean_loss))
        print("test precision of class 0 = %s" % sess.run(prec))
