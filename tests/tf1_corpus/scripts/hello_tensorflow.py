# Hello TensorFlow, constants and the first Session (the classic first TF1 program)
import tensorflow as tf

hello = tf.constant("Hello, TensorFlow!")
sess = tf.Session()
print(sess.run(hello))
a = tf.constant(10)
b = tf.constant(32)
print(sess.run(a + b))

matrix1 = tf.constant([[3, 3]])
matrix2 = tf.constant([[2], [3]])
product = tf.matmul(matrix1, matrix2)
print(product)
print(sess.run(product))
sess.close()

if tf.__version__.startswith("1.") or hasattr(tf, "disable_v2_behavior"):
    print("graph mode")
