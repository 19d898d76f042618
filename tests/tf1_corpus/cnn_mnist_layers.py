"""Convolutional Neural Network Estimator for MNIST, built with tf.layers (TF's cnn_mnist
tutorial's model), trained with a Session loop; evaluated with tf.metrics.accuracy."""

import numpy as np
import jaxcourse.compat.v1 as tf  # was: import tensorflow as tf
from jaxcourse.data import input_data  # was: from tensorflow.examples.tutorials.mnist import input_data


def cnn_model_fn(features, labels, is_training):
  """Model function for CNN."""
  # Input Layer
  input_layer = tf.reshape(features, [-1, 28, 28, 1])

  # Convolutional Layer #1
  conv1 = tf.layers.conv2d(
      inputs=input_layer,
      filters=32,
      kernel_size=[5, 5],
      padding="same",
      activation=tf.nn.relu)

  # Pooling Layer #1
  pool1 = tf.layers.max_pooling2d(inputs=conv1, pool_size=[2, 2], strides=2)

  # Convolutional Layer #2 and Pooling Layer #2
  conv2 = tf.layers.conv2d(
      inputs=pool1,
      filters=64,
      kernel_size=[5, 5],
      padding="same",
      activation=tf.nn.relu)
  pool2 = tf.layers.max_pooling2d(inputs=conv2, pool_size=[2, 2], strides=2)

  # Dense Layer
  pool2_flat = tf.reshape(pool2, [-1, 7 * 7 * 64])
  dense = tf.layers.dense(inputs=pool2_flat, units=1024, activation=tf.nn.relu)
  dropout = tf.layers.dropout(
      inputs=dense, rate=0.4, training=is_training)

  # Logits Layer
  logits = tf.layers.dense(inputs=dropout, units=10)

  predictions = {
      "classes": tf.argmax(input=logits, axis=1),
      "probabilities": tf.nn.softmax(logits, name="softmax_tensor")
  }
  loss = tf.losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
  return predictions, loss


mnist = input_data.read_data_sets("MNIST_data/")
x = tf.placeholder(tf.float32, [None, 784])
y = tf.placeholder(tf.int32, [None])
is_training = tf.placeholder(tf.bool)
predictions, loss = cnn_model_fn(x, y, is_training)

optimizer = tf.train.GradientDescentOptimizer(learning_rate=0.05)
train_op = optimizer.minimize(loss=loss, global_step=tf.train.get_global_step())

accuracy, update_accuracy = tf.metrics.accuracy(labels=y, predictions=predictions["classes"])

with tf.Session() as sess:
  sess.run(tf.global_variables_initializer())
  for step in range(1, 81):
    batch_xs, batch_ys = mnist.train.next_batch(50)
    _, loss_value = sess.run([train_op, loss], {x: batch_xs, y: batch_ys, is_training: True})
    if step % 40 == 0:
      sess.run(tf.local_variables_initializer())
      for i in range(0, mnist.test.num_examples, 500):
        sess.run(update_accuracy, {x: mnist.test.images[i:i + 500],
                                   y: mnist.test.labels[i:i + 500], is_training: False})
      print("step %d, loss %g, accuracy %g" % (step, loss_value, sess.run(accuracy)))
