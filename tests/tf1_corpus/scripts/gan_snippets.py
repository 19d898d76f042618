# corpus: compare=structure
# GAN-style snippets: Xavier init with a tensor stddev, a shared discriminator, noise sized
# by tf.shape (random values: shapes and names are compared, not the numbers)
import numpy as np
import tensorflow as tf


def xavier_init(size):
    in_dim = size[0]
    xavier_stddev = 1.0 / tf.sqrt(in_dim / 2.0)
    return tf.random_normal(shape=size, stddev=xavier_stddev)


X = tf.placeholder(tf.float32, shape=[None, 784])
D_W1 = tf.Variable(xavier_init([784, 128]))
D_b1 = tf.Variable(tf.zeros(shape=[128]))
D_W2 = tf.Variable(xavier_init([128, 1]))
D_b2 = tf.Variable(tf.zeros(shape=[1]))
theta_D = [D_W1, D_W2, D_b1, D_b2]

Z = tf.placeholder(tf.float32, shape=[None, 100])
G_W1 = tf.Variable(xavier_init([100, 128]))
G_b1 = tf.Variable(tf.zeros(shape=[128]))
G_W2 = tf.Variable(xavier_init([128, 784]))
G_b2 = tf.Variable(tf.zeros(shape=[784]))
theta_G = [G_W1, G_W2, G_b1, G_b2]


def generator(z):
    G_h1 = tf.nn.relu(tf.matmul(z, G_W1) + G_b1)
    return tf.nn.sigmoid(tf.matmul(G_h1, G_W2) + G_b2)


def discriminator(x):
    D_h1 = tf.nn.relu(tf.matmul(x, D_W1) + D_b1)
    D_logit = tf.matmul(D_h1, D_W2) + D_b2
    return tf.nn.sigmoid(D_logit), D_logit


G_sample = generator(Z)
D_real, D_logit_real = discriminator(X)
D_fake, D_logit_fake = discriminator(G_sample)
D_loss = -tf.reduce_mean(tf.log(D_real) + tf.log(1.0 - D_fake))
G_loss = -tf.reduce_mean(tf.log(D_fake))
D_solver = tf.train.AdamOptimizer().minimize(D_loss, var_list=theta_D)
G_solver = tf.train.AdamOptimizer().minimize(G_loss, var_list=theta_G)

batch = tf.shape(X)[0]
noise = tf.random_uniform(tf.stack([batch, 100]), -1.0, 1.0)
print(G_sample.get_shape().as_list(), noise.get_shape().as_list(), D_logit_fake.get_shape())

with tf.Session() as sess:
    sess.run(tf.global_variables_initializer())
    x_mb = np.random.rand(16, 784).astype(np.float32)
    for it in range(3):
        z_mb = np.random.uniform(-1.0, 1.0, size=[16, 100])
        _, d = sess.run([D_solver, D_loss], feed_dict={X: x_mb, Z: z_mb})
        _, g = sess.run([G_solver, G_loss], feed_dict={Z: z_mb})
        print("Iter", it, "D loss", np.isfinite(d), "G loss", np.isfinite(g))
    print(sess.run(noise, feed_dict={X: x_mb}).shape)
    print(sess.run(D_W1).std() < 0.2)
