# String tensors, dynamic shapes from tf.shape, stacking sizes, unstack/split
import numpy as np
import tensorflow as tf

name = tf.placeholder(tf.string)
greeting = tf.string_join(["Hello, ", name, "!"])
numbers = tf.string_to_number(tf.constant(["1.5", "2.25"]))

images = tf.placeholder(tf.float32, [None, 28, 28])
batch_size = tf.shape(images)[0]
flat = tf.reshape(images, [batch_size, -1])
ones = tf.ones(tf.stack([batch_size, 3]))
noise = tf.random_normal(tf.shape(flat), stddev=0.0)
parts = tf.unstack(tf.constant([[1, 2, 3], [4, 5, 6]]), axis=1)
left, right = tf.split(tf.constant(np.arange(8.0, dtype=np.float32).reshape(2, 4)), 2, axis=1)
print(flat, ones.get_shape(), parts[2])
with tf.Session() as sess:
    print(sess.run(greeting, feed_dict={name: "TensorFlow"}))
    print(sess.run(numbers))
    data = np.ones((5, 28, 28), np.float32)
    print(sess.run([batch_size, tf.shape(flat), tf.shape(ones)], feed_dict={images: data}))
    print(sess.run(noise, feed_dict={images: data[:2]}).shape)
    print(sess.run(parts))
    print(sess.run([left, right]))
    print(sess.run(tf.get_default_graph().get_tensor_by_name("unstack:1")))
