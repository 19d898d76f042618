# Course week 2: constants, variables, a counter, fetch and feed
import tensorflow as tf

x = tf.Variable([1, 2])
a = tf.constant([3, 3])
sub = tf.subtract(x, a)
add = tf.add(x, sub)
init = tf.global_variables_initializer()
with tf.Session() as sess:
    sess.run(init)
    print(sess.run(sub))
    print(sess.run(add))

state = tf.Variable(0, name="counter")
new_value = tf.add(state, 1)
update = tf.assign(state, new_value)
init = tf.global_variables_initializer()
with tf.Session() as sess:
    sess.run(init)
    print(sess.run(state))
    for _ in range(5):
        sess.run(update)
        print(sess.run(state))

input1 = tf.constant(3.0)
input2 = tf.constant(2.0)
input3 = tf.constant(5.0)
add = tf.add(input2, input3)
mul = tf.multiply(input1, add)
with tf.Session() as sess:
    result = sess.run([mul, add])
    print(result)

input1 = tf.placeholder(tf.float32)
input2 = tf.placeholder(tf.float32)
output = tf.multiply(input1, input2)
with tf.Session() as sess:
    print(sess.run(output, feed_dict={input1: [8.0], input2: [2.0]}))

sess = tf.InteractiveSession()
v = tf.Variable([1.0, 2.0])
c = tf.constant([3.0, 3.0])
v.initializer.run()
print(tf.subtract(v, c).eval())
sess.close()
