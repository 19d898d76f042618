# corpus: needs=mnist rtol=0 atol=0.05
# Course week 4: a 784-200-10 network with dropout (keep_prob fed), Adam, a decayed
# learning-rate variable and truncated-normal weights (random: compared within the spread)
import tensorflow as tf
from tensorflow.examples.tutorials.mnist import input_data

mnist = input_data.read_data_sets("MNIST_data", one_hot=True)
batch_size = 100

x = tf.placeholder(tf.float32, [None, 784])
y = tf.placeholder(tf.float32, [None, 10])
keep_prob = tf.placeholder(tf.float32)
lr = tf.Variable(0.001, dtype=tf.float32)

W1 = tf.Variable(tf.truncated_normal([784, 200], stddev=0.1))
b1 = tf.Variable(tf.zeros([200]) + 0.1)
L1 = tf.nn.dropout(tf.nn.tanh(tf.matmul(x, W1) + b1), keep_prob)
W2 = tf.Variable(tf.truncated_normal([200, 10], stddev=0.1))
b2 = tf.Variable(tf.zeros([10]) + 0.1)
prediction = tf.nn.softmax(tf.matmul(L1, W2) + b2)

loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=prediction))
train_step = tf.train.AdamOptimizer(lr).minimize(loss)
correct = tf.equal(tf.argmax(y, 1), tf.argmax(prediction, 1))
accuracy = tf.reduce_mean(tf.cast(correct, tf.float32))

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    for epoch in range(2):
        sess.run(tf.assign(lr, 0.001 * (0.95**epoch)))
        for batch in range(100):
            batch_xs, batch_ys = mnist.train.next_batch(batch_size)
            sess.run(train_step, feed_dict={x: batch_xs, y: batch_ys, keep_prob: 0.9})
        acc = sess.run(
            accuracy, feed_dict={x: mnist.test.images, y: mnist.test.labels, keep_prob: 1.0}
        )
        print(
            "Iter",
            epoch,
            "learning rate",
            round(float(sess.run(lr)), 6),
            "accuracy",
            round(float(acc), 2),
        )
