# tf.cond, tf.case and tf.while_loop
import tensorflow as tf

x = tf.placeholder(tf.float32, [])
y = tf.cond(x < 5.0, lambda: tf.square(x), lambda: x * 10.0)
z = tf.case(
    {x < 0.0: lambda: tf.constant(-1), x > 10.0: lambda: tf.constant(1)},
    default=lambda: tf.constant(0),
    exclusive=True,
)

i = tf.constant(0)
c = lambda i: tf.less(i, 10)
b = lambda i: tf.add(i, 1)
r = tf.while_loop(c, b, [i])

n = tf.constant(1.0)
k = tf.constant(0)
cond = lambda k, n: k < 6
body = lambda k, n: (k + 1, n * 2.0)
k_final, n_final = tf.while_loop(cond, body, [k, n])

with tf.Session() as sess:
    for value in [-2.0, 3.0, 12.0]:
        print(value, sess.run([y, z], feed_dict={x: value}))
    print(sess.run(r))
    print(sess.run([k_final, n_final]))
