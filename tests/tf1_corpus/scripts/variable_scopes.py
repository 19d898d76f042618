# Variable and name scopes, sharing with reuse, tf.get_variable_scope
import tensorflow as tf

with tf.variable_scope("foo") as scope:
    print(scope.name, scope.reuse)
    v = tf.get_variable("v", [1], initializer=tf.constant_initializer(1.0))
    scope.reuse_variables()
    v1 = tf.get_variable("v", [1])
    print(v1 is v, tf.get_variable_scope().reuse)
print(v.name)

with tf.variable_scope("foo", reuse=True):
    print(tf.get_variable("v").name)

with tf.variable_scope(scope, reuse=tf.AUTO_REUSE):
    w = tf.get_variable("w", [2, 3], initializer=tf.zeros_initializer())
print(w.name, w.get_shape().as_list())

with tf.variable_scope("outer"):
    with tf.variable_scope("inner"):
        u = tf.get_variable("u", [2], initializer=tf.ones_initializer())
    with tf.name_scope("ops"):
        total = tf.add(u, u, name="double")
print(u.name, total.name)

with tf.name_scope("layer"):
    a = tf.Variable(tf.zeros([2]), name="bias")
    b = tf.constant(1.0, name="c")
print(a.name, b.name)


def shared_layer(x):
    with tf.variable_scope("shared", reuse=tf.AUTO_REUSE):
        k = tf.get_variable("k", [], initializer=tf.constant_initializer(2.0))
        return x * k


out1 = shared_layer(tf.constant(3.0))
out2 = shared_layer(tf.constant(4.0))
print(len(tf.trainable_variables()), [t.name for t in tf.trainable_variables()])
with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    print(sess.run([v, w, u, total, out1, out2]))
